"""The result every detector returns, and the detector contract.

Every array in a :class:`DetectionResult` has the shape of the monitored part of the panel:
(n_monitored, n_units). ``alarm`` is a float array with 1.0 / 0.0 and ``NaN`` where the method
could not decide (R's ``NA``), so that "no alarm" and "could not judge" stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["DetectionResult", "Detector"]


@dataclass(frozen=True)
class DetectionResult:
    """Observed, expected, upper bound, alarm and score for the monitored time points.

    Attributes:
        method: the method's name as in the CLI (``ears-c1``, ``farrington-flexible`` …).
        params: the parameters used, verbatim, after defaults were filled in.
        index: 0-based row indices into the panel of the monitored time points.
        units: unit codes (columns).
        observed, expected, upperbound, alarm, score: (n_monitored, n_units) float arrays.
        extra: method-specific (n_monitored, n_units) arrays (``pvalue``, ``phi`` …).
        scalars: per-unit values that are not per time point (e.g. GLR-NB ``alpha``).
    """

    method: str
    params: dict[str, Any]
    index: npt.NDArray[np.int64]
    units: tuple[str, ...]
    observed: FloatArray
    expected: FloatArray
    upperbound: FloatArray
    alarm: FloatArray
    score: FloatArray
    extra: dict[str, FloatArray] = field(default_factory=dict)
    scalars: dict[str, FloatArray] = field(default_factory=dict)
    dates: npt.NDArray[np.datetime64] | None = None

    def __post_init__(self) -> None:
        shape = (len(self.index), len(self.units))
        for name in ("observed", "expected", "upperbound", "alarm", "score"):
            arr = getattr(self, name)
            if arr.shape != shape:
                raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
        for name, arr in self.extra.items():
            if arr.shape != shape:
                raise ValueError(f"extra[{name!r}] has shape {arr.shape}, expected {shape}")


class Detector(Protocol):
    """A detection method: a whole panel in, one result out."""

    name: str

    def __call__(self, panel: Panel, **params: Any) -> DetectionResult: ...
