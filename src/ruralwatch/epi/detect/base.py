"""The result every detector returns, and the detector contract.

Every array in a :class:`DetectionResult` has the shape of the monitored part of the panel:
(n_monitored, n_units). ``alarm`` is a float array with 1.0 / 0.0 and ``NaN`` where the method
could not decide (R's ``NA``), so that "no alarm" and "could not judge" stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["DetectionResult", "Detector", "Reason"]


class Reason(IntEnum):
    """Why a detector gave NA for one unit at one monitored time point (0: it did not).

    One unit's data never stops a panel: where its fit cannot be made the outputs are NaN (where R
    gives NA) and ``DetectionResult.reason`` holds one of these codes at that place.
    """

    OK = 0
    MISSING = 1  # the observation or too much of its baseline is missing
    TOO_SHORT = 2  # not enough history before the monitored point
    ALL_ZERO = 3  # the baseline holds only zeros, so the model has nothing to fit
    SEPARATED = 4  # the fit ran to a boundary (a fitted mean of zero)
    SINGULAR = 5  # the design or information matrix is singular
    NO_CONVERGENCE = 6  # the iterations did not converge
    NON_FINITE = 7  # the fit produced a non-finite number
    INVALID_INPUT = 8  # the unit's input is not a count (negative, non-integer, infinite)
    CONSTANT = 9  # the baseline has no spread (all values equal), so the statistic is 0/0

    @property
    def code(self) -> str:
        """The reason as a stable lower-case code for files, the database and messages."""
        return self.name.lower()


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
        reason: (n_monitored, n_units) int8 :class:`Reason` codes, 0 where the method gave a
            result; a non-zero code says why the outputs there are NaN. ``None`` is taken as
            all zero.
        notes: unit code -> what was wrong with that unit's input (e.g. ``row 17: negative
            count -3``), for units whose outputs are NaN with :attr:`Reason.INVALID_INPUT`.
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
    reason: npt.NDArray[np.int8] | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.index), len(self.units))
        if self.reason is None:
            object.__setattr__(self, "reason", np.zeros(shape, dtype=np.int8))
        elif self.reason.shape != shape:
            raise ValueError(f"reason has shape {self.reason.shape}, expected {shape}")
        for name in ("observed", "expected", "upperbound", "alarm", "score"):
            arr = getattr(self, name)
            if arr.shape != shape:
                raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
        for name, arr in self.extra.items():
            if arr.shape != shape:
                raise ValueError(f"extra[{name!r}] has shape {arr.shape}, expected {shape}")

    def reason_counts(self) -> dict[str, int]:
        """How many (time point, unit) cells got each non-zero reason, by code."""
        assert self.reason is not None
        codes, n = np.unique(self.reason[self.reason != 0], return_counts=True)
        return {Reason(int(c)).code: int(k) for c, k in zip(codes, n, strict=True)}


class Detector(Protocol):
    """A detection method: a whole panel in, one result out."""

    name: str

    def __call__(self, panel: Panel, **params: Any) -> DetectionResult: ...
