"""Faults injected into the cycle's pool workers (tests/cycle/test_distributed.py).

A pool's worker is a spawned interpreter that imports what it runs by name before Django is
configured, so the function that starts it with faults lives here, in a module that imports
nothing of Django at the top.
"""

from __future__ import annotations

import os
from typing import Any

#: The province whose partitions fail.
FAILING = "/910000000000/"


def start_with_faults() -> None:
    """A pool worker's start (``distributed._start_worker``) that then breaks the province
    ``FAILING``: its validation and detection raise, and its assessment kills the worker
    process, as the kernel's OOM killer would."""
    from ruralwatch.cycle.distributed import _start_worker

    _start_worker()
    from ruralwatch.assessments import services as assessments
    from ruralwatch.intake import nightly
    from ruralwatch.signals import services as signals

    def raising(real: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("root_path") == FAILING or (args and args[0] == FAILING):
                raise OSError("disk full (injected)")
            return real(*args, **kwargs)

        return run

    def dying(real: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("root_path") == FAILING:
                os._exit(9)
            return real(*args, **kwargs)

        return run

    nightly.validate_part = raising(nightly.validate_part)
    signals.detect_signals = raising(signals.detect_signals)
    assessments.assess = dying(assessments.assess)
