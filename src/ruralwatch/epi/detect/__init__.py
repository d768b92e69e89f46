"""Temporal aberration detection: one call detects over every series of a panel.

``METHODS`` maps the CLI names to detectors; each is called as ``METHODS[name](panel, **params)``
and returns a :class:`~ruralwatch.epi.detect.base.DetectionResult`. A registered entry is a
function plus the parameters the name fixes (e.g. ``ears-c1`` is :func:`ears` with
``method="C1"``); the fixed ones may not be passed again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruralwatch.epi.detect.base import DetectionResult, Detector
from ruralwatch.epi.detect.cidars import cidars_mpm, cidars_single_case
from ruralwatch.epi.detect.cusum import cusum
from ruralwatch.epi.detect.ears import ears
from ruralwatch.epi.detect.farrington import farrington, farrington_flexible
from ruralwatch.epi.detect.glr import glr
from ruralwatch.epi.detect.rki import RKI_SETTINGS, rki
from ruralwatch.epi.linalg import one_blas_thread
from ruralwatch.epi.panel import Panel

__all__ = ["METHODS", "DetectionResult", "Detector", "Registered", "get_detector"]


@dataclass
class Registered:
    """A detector under a CLI name: ``fn(panel, **fixed, **params)``."""

    name: str
    fn: Callable[..., DetectionResult]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, panel: Panel, **params: Any) -> DetectionResult:
        clash = sorted(set(params) & set(self.fixed))
        if clash:
            raise ValueError(f"{self.name} fixes {', '.join(clash)}; do not pass them")
        with one_blas_thread():
            return self.fn(panel, **self.fixed, **params)

    @property
    def accepts(self) -> tuple[str, ...]:
        """Keyword parameters a caller may pass."""
        sig = inspect.signature(self.fn)
        return tuple(
            n
            for n, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in self.fixed
        )


_ENTRIES: list[Registered] = [
    Registered("ears-c1", ears, {"method": "C1"}),
    Registered("ears-c2", ears, {"method": "C2"}),
    Registered("ears-c3", ears, {"method": "C3"}),
    Registered("farrington", farrington),
    Registered("farrington-flexible", farrington_flexible),
    Registered("cusum", cusum),
    Registered("glr-nb", glr, {"method": "glr-nb"}),
    Registered("glr-poisson", glr, {"method": "glr-poisson", "alpha": 0.0}),
    Registered("rki1", rki, {"method": "rki1", **RKI_SETTINGS[1]}),
    Registered("rki2", rki, {"method": "rki2", **RKI_SETTINGS[2]}),
    Registered("rki3", rki, {"method": "rki3", **RKI_SETTINGS[3]}),
    Registered("cidars-mpm", cidars_mpm),
    Registered("cidars-single-case", cidars_single_case),
]

METHODS: dict[str, Detector] = {e.name: e for e in _ENTRIES}


def get_detector(name: str) -> Detector:
    """The detector registered as ``name``; ValueError listing the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        valid = ", ".join(sorted(METHODS))
        raise ValueError(f"unknown detection method {name!r}; valid: {valid}") from None
