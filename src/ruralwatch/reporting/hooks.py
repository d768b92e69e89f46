"""What an import of whole days tells the apps above ``reporting``, through signals.

The nightly validation (``intake``, a layer above) keeps a compact copy of each day of village
values it reads (``intake.screen_days``), and every writer marks the dates it changes
(``services.mark_changed``) so that the copies of those dates are dropped and read again from
the values. An import that brings a day no one had reported on yet holds that day's values
whole in memory: the copies can be made from them, in its transaction, and the validation then
reads no value of the new day (at national scale that read was a fifth of the daily cycle's
database time, issue 15). ``intake`` connects the receivers; without one, every date is
marked as before.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import polars as pl
from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: ``send(sender)`` in the import's transaction, before it reads what its dates hold; a
#: receiver returns what it wants handed back to it with :data:`whole_days_written`.
whole_days_begin = Signal()

#: ``send(sender, values=…, dates=[…], tokens=…, arrivals=…)`` in the import's transaction,
#: after it wrote ``values`` (long: ``area_code``, ``date`` as ISO text, ``indicator``,
#: ``value``), the whole of those dates' values: nothing was stored on them before.
#: ``arrivals`` (``area_code``, ``date``, ``delay_hours``) are the whole of those dates'
#: submissions where it wrote them all (none was stored before), else ``None``. ``tokens``
#: maps each receiver to what it returned to :data:`whole_days_begin`. A receiver that has made
#: its copies of these dates from ``values`` returns True; the import then does not mark them
#: for the validation.
whole_days_written = Signal()


def begin_whole_days() -> dict[Any, Any]:
    """Each receiver's token (:data:`whole_days_begin`)."""
    return dict(whole_days_begin.send(sender=None))


def copied_whole_days(
    values: pl.DataFrame,
    dates: list[dt.date],
    tokens: dict[Any, Any],
    arrivals: pl.DataFrame | None = None,
) -> bool:
    """Whether a receiver made its copies of ``dates`` from ``values`` (:data:`whole_days_written`):
    False when no receiver is connected or one declined (the dates are then marked)."""
    try:
        # A savepoint: a receiver that fails leaves the import's writes as they were, and the
        # import marks the dates as any writer does.
        with transaction.atomic():
            answers: list[tuple[Any, Any]] = whole_days_written.send(
                sender=None, values=values, dates=dates, tokens=tokens, arrivals=arrivals
            )
    except Exception:
        logger.exception("the copies of the imported days were not made; the days are marked")
        return False
    return bool(answers) and all(answer is True for _receiver, answer in answers)
