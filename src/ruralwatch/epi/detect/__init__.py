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
from dataclasses import dataclass, field
from typing import Any

from ruralwatch.epi.detect.base import DetectionResult, Detector
from ruralwatch.epi.linalg import one_blas_thread
from ruralwatch.epi.panel import Panel

__all__ = ["METHODS", "DetectionResult", "Detector", "Registered", "get_detector"]


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
        clash = sorted(set(params) & set(self.fixed))
        if clash:
            raise ValueError(f"{self.name} fixes {', '.join(clash)}; do not pass them")
        fn = self.fn
        with one_blas_thread():
            return fn(panel, **self.fixed, **params)

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
