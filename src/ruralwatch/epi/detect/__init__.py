"""Temporal aberration detection: one call detects over every series of a panel.

``METHODS`` maps the CLI names to detectors; each is called as ``METHODS[name](panel, **params)``
and returns a :class:`~ruralwatch.epi.detect.base.DetectionResult`. A registered entry is a
function plus the parameters the name fixes (e.g. ``ears-c1`` is :func:`ears` with
``method="C1"``); the fixed ones may not be passed again.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect._common import invalid_units
from ruralwatch.epi.detect.base import DetectionResult, Detector, Reason
from ruralwatch.epi.linalg import one_blas_thread
from ruralwatch.epi.panel import Panel

__all__ = ["METHODS", "DetectionResult", "Detector", "Registered", "get_detector"]


def _mark_invalid(
    res: DetectionResult, panel: Panel, bad: npt.NDArray[np.bool_], notes: dict[str, str]
) -> DetectionResult:
    """``res`` with the ``bad`` units' outputs NaN, their reason INVALID_INPUT, the observed
    values as given, and ``notes``."""

    def blank(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.array(a, dtype=np.float64, copy=True)
        out[:, bad] = np.nan
        return out

    assert res.reason is not None
    reason = res.reason.copy()
    reason[:, bad] = Reason.INVALID_INPUT
    observed = res.observed.copy()
    observed[:, bad] = panel.counts[res.index][:, bad]
    scalars = {}
    for k, v in res.scalars.items():
        arr = np.array(v, dtype=np.float64, copy=True)
        arr[bad] = np.nan
        scalars[k] = arr
    return replace(
        res,
        observed=observed,
        expected=blank(res.expected),
        upperbound=blank(res.upperbound),
        alarm=blank(res.alarm),
        score=blank(res.score),
        extra={k: blank(v) for k, v in res.extra.items()},
        scalars=scalars,
        reason=reason,
        notes={**res.notes, **notes},
    )


@dataclass
class Registered:
    """A detector under a CLI name: ``fn(panel, **fixed, **params)``.

    The function may be given as ``"module:function"`` and the fixed parameters as a function
    that returns them: both are then loaded on first use, so that importing the registry (e.g.
    for one EARS run) does not import every method and its scipy modules.
    """

    name: str
    target: Callable[..., DetectionResult] | str
    preset: Mapping[str, Any] | Callable[[], Mapping[str, Any]] = field(default_factory=dict)

    @property
    def fn(self) -> Callable[..., DetectionResult]:
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            self.target = getattr(importlib.import_module(module), attr)
        assert not isinstance(self.target, str)
        return self.target

    @property
    def fixed(self) -> Mapping[str, Any]:
        """The parameters the name fixes."""
        if callable(self.preset):
            self.preset = self.preset()
        assert not callable(self.preset)
        return self.preset

    def __call__(self, panel: Panel, **params: Any) -> DetectionResult:
        """Run the detector; the one place that checks what every method needs of its input.

        Unknown or fixed parameters and an empty panel are a ValueError. A unit holding a
        value that is not a count (negative or infinite) is run as if wholly missing, so it
        cannot disturb the others, and reported with NaN outputs, ``Reason.INVALID_INPUT``
        and a note naming the row (R refuses the whole call; here one unit never stops a
        panel). Each method checks its own parameters' ranges.
        """
        clash = sorted(set(params) & set(self.fixed))
        if clash:
            raise ValueError(f"{self.name} fixes {', '.join(clash)}; do not pass them")
        unknown = sorted(set(params) - set(self.accepts))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(self.accepts)}"
            )
        if panel.n_time == 0 or panel.n_units == 0:
            raise ValueError(f"{self.name}: the panel is empty ({panel.n_time} x {panel.n_units})")
        bad, notes = invalid_units(panel.counts)
        run_on = panel
        if bad.any():
            run_on = replace(panel, counts=np.where(bad[None, :], np.nan, panel.counts))
        fn = self.fn
        with one_blas_thread():
            res = fn(run_on, **self.fixed, **params)
        if not bad.any():
            return res
        return _mark_invalid(res, panel, bad, {panel.units[j]: m for j, m in notes.items()})

    @property
    def accepts(self) -> tuple[str, ...]:
        """Keyword parameters a caller may pass."""
        sig = inspect.signature(self.fn)
        return tuple(
            n
            for n, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in self.fixed
        )


def _rki(variant: int) -> Callable[[], Mapping[str, Any]]:
    def settings() -> Mapping[str, Any]:
        from ruralwatch.epi.detect.rki import RKI_SETTINGS

        return {"method": f"rki{variant}", **RKI_SETTINGS[variant]}

    return settings


_M = "ruralwatch.epi.detect."

_ENTRIES: list[Registered] = [
    Registered("ears-c1", _M + "ears:ears", {"method": "C1"}),
    Registered("ears-c2", _M + "ears:ears", {"method": "C2"}),
    Registered("ears-c3", _M + "ears:ears", {"method": "C3"}),
    Registered("farrington", _M + "farrington:farrington"),
    Registered("farrington-flexible", _M + "farrington:farrington_flexible"),
    Registered("cusum", _M + "cusum:cusum"),
    Registered("glr-nb", _M + "glr:glr", {"method": "glr-nb"}),
    Registered("glr-poisson", _M + "glr:glr", {"method": "glr-poisson", "alpha": 0.0}),
    Registered("rki1", _M + "rki:rki", _rki(1)),
    Registered("rki2", _M + "rki:rki", _rki(2)),
    Registered("rki3", _M + "rki:rki", _rki(3)),
    Registered("cidars-mpm", _M + "cidars:cidars_mpm"),
    Registered("cidars-single-case", _M + "cidars:cidars_single_case"),
]

METHODS: dict[str, Detector] = {e.name: e for e in _ENTRIES}


def get_detector(name: str) -> Detector:
    """The detector registered as ``name``; ValueError listing the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        valid = ", ".join(sorted(METHODS))
        raise ValueError(f"unknown detection method {name!r}; valid: {valid}") from None
