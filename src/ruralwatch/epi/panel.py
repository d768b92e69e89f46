"""Panel: the one data structure every epi method works on.

A panel is a matrix of counts with time along the rows and units (areas, series) along the
columns, like R surveillance's ``sts`` object. Missing values are ``NaN``: a missing report is
not a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Freq = Literal[1, 12, 52, 365]

__all__ = ["FloatArray", "Freq", "Panel"]


@dataclass(frozen=True)
class Panel:
    """Counts (time × units) with dates, unit codes and an optional population.

    Attributes:
        counts: float array of shape (T, U); ``NaN`` marks a missing value.
        units: unit codes, length U (strings: statistical codes keep their leading digits).
        dates: ``datetime64[D]`` array of length T, or ``None`` for series without dates.
        freq: periods per year: 365 daily, 52 weekly, 12 monthly, 1 yearly.
        population: (T, U) or (U,) population or fraction, or ``None``.
        start: (year, period) of the first row as R stores it; only some methods use it.
    """

    counts: FloatArray
    units: tuple[str, ...]
    dates: npt.NDArray[np.datetime64] | None = None
    freq: Freq = 365
    population: FloatArray | None = None
    start: tuple[int, int] = field(default=(2000, 1))

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim == 1:
            counts = counts[:, None]
        if counts.ndim != 2:
            raise ValueError(f"counts must be 2-D (time × units), got shape {counts.shape}")
        object.__setattr__(self, "counts", counts)
        units = tuple(str(u) for u in self.units)
        if len(units) != counts.shape[1]:
            raise ValueError(f"{len(units)} unit codes for {counts.shape[1]} columns of counts")
        object.__setattr__(self, "units", units)
        if self.dates is not None:
            dates = np.asarray(self.dates, dtype="datetime64[D]")
            if dates.shape != (counts.shape[0],):
                raise ValueError(f"{dates.shape[0]} dates for {counts.shape[0]} rows of counts")
            object.__setattr__(self, "dates", dates)
        if self.population is not None:
            pop = np.asarray(self.population, dtype=np.float64)
            if pop.ndim == 1:
                pop = np.broadcast_to(pop, counts.shape)
            if pop.shape != counts.shape:
                raise ValueError(
                    f"population shape {pop.shape} does not match counts {counts.shape}"
                )
            object.__setattr__(self, "population", pop)
        if self.freq not in (1, 12, 52, 365):
            raise ValueError(f"freq must be 1, 12, 52 or 365, got {self.freq}")

    @property
    def n_time(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.counts.shape[1])

    @classmethod
    def single(
        cls,
        values: npt.ArrayLike,
        *,
        unit: str = "1",
        dates: npt.ArrayLike | None = None,
        freq: Freq = 365,
        population: npt.ArrayLike | None = None,
        start: tuple[int, int] = (2000, 1),
    ) -> Panel:
        """A panel of one series."""
        arr = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        pop = (
            None if population is None else np.asarray(population, dtype=np.float64).reshape(-1, 1)
        )
        d = None if dates is None else np.asarray(dates, dtype="datetime64[D]")
        return cls(counts=arr, units=(unit,), dates=d, freq=freq, population=pop, start=start)

    def column(self, j: int) -> Panel:
        """The j-th unit as a panel of one series."""
        pop = None if self.population is None else self.population[:, j : j + 1]
        return Panel(
            counts=self.counts[:, j : j + 1],
            units=(self.units[j],),
            dates=self.dates,
            freq=self.freq,
            population=pop,
            start=self.start,
        )

    @classmethod
    def from_long(
        cls,
        units: npt.ArrayLike,
        rows: npt.ArrayLike,
        values: npt.ArrayLike,
        *,
        unit_order: tuple[str, ...] | None = None,
        n_time: int,
        dates: npt.ArrayLike | None = None,
        freq: Freq = 365,
        population: npt.ArrayLike | None = None,
    ) -> Panel:
        """A panel from long records (unit code, 0-based row, value); absent cells are NaN.

        ``unit_order`` fixes the columns (records of other units are an error); by default the
        sorted distinct codes. Records outside ``0 <= row < n_time`` are an error too.
        """
        codes = np.asarray(units, dtype=object).astype(str)
        r = np.asarray(rows, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        order = tuple(np.unique(codes).tolist()) if unit_order is None else unit_order
        known = np.array(order, dtype=str)
        sorter = np.argsort(known)
        pos = np.searchsorted(known, codes, sorter=sorter)
        col = sorter[np.minimum(pos, max(len(order) - 1, 0))] if len(order) else pos
        if codes.size and (not len(order) or np.any(known[col] != codes)):
            bad = codes[known[col] != codes][0] if len(order) else codes[0]
            raise ValueError(f"record for unit {bad} not in unit_order")
        if r.size and (r.min() < 0 or r.max() >= n_time):
            raise ValueError("a record's row is outside the panel")
        counts = np.full((n_time, len(order)), np.nan)
        counts[r, col] = v
        pop = None if population is None else np.asarray(population, dtype=np.float64)
        d = None if dates is None else np.asarray(dates, dtype="datetime64[D]")
        return cls(counts=counts, units=order, dates=d, freq=freq, population=pop)

    @classmethod
    def stack(cls, panels: list[Panel]) -> Panel:
        """Columns of several panels with the same time axis, side by side."""
        if not panels:
            raise ValueError("nothing to stack")
        first = panels[0]
        for p in panels[1:]:
            if p.n_time != first.n_time or p.freq != first.freq:
                raise ValueError("panels to stack must share length and frequency")
        pops = [p.population for p in panels]
        population = None if any(x is None for x in pops) else np.hstack(pops)  # type: ignore[arg-type]
        return cls(
            counts=np.hstack([p.counts for p in panels]),
            units=tuple(u for p in panels for u in p.units),
            dates=first.dates,
            freq=first.freq,
            population=population,
            start=first.start,
        )
