"""The demo's process supervision (``ruralwatch demo`` serves through ``ruralwatch serve`` as a
child, and the scheduling worker will join it): when one child stops, the others are stopped
too, and the exit code of the one that stopped first is returned."""

from __future__ import annotations

import sys
import time

from ruralwatch.cli.demo import _run_until_stopped, _ruralwatch


def test_one_child_stopping_stops_the_others() -> None:
    start = time.monotonic()
    code = _run_until_stopped(
        [
            [sys.executable, "-c", "import time; time.sleep(120)"],
            [sys.executable, "-c", "import sys, time; time.sleep(1); sys.exit(3)"],
        ]
    )
    assert code == 3
    assert time.monotonic() - start < 60  # the sleeper was terminated, not waited for


def test_children_run_this_interpreter() -> None:
    assert _ruralwatch("serve", "--port", "1")[:3] == [sys.executable, "-m", "ruralwatch"]
