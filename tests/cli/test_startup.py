"""``ruralwatch --help`` (and every command's ``--help``) imports nothing heavy.

Not a timing test: a fresh interpreter runs the help and reports which modules it imported;
Django, numpy, scipy, polars, dask and ``ruralwatch.epi`` must not be among them (they cost seconds
at start-up; commands import them when they run). ``python -m bench --only cli`` times it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.shared import REPO

HEAVY = (
    "django",
    "numpy",
    "scipy",
    "polars",
    "pandas",
    "pyarrow",
    "dask",
    "distributed",
    "ruralwatch.epi",
)

_PROBE = """
import json, sys
from ruralwatch.cli import app
try:
    app(sys.argv[1:], prog_name="ruralwatch")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(
    m for m in sys.modules if m.split(".")[0] in {HEAVY_TOP} or m.startswith("ruralwatch.epi")
)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def _help(*args: str) -> dict[str, object]:
    top = {h for h in HEAVY if "." not in h}
    code = _PROBE.replace("{HEAVY_TOP}", repr(top))
    proc = subprocess.run(
        [sys.executable, "-c", code, *args, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    report: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
    report["stdout"] = proc.stdout
    return report


def _commands() -> list[str]:
    from typer.main import get_command

    from ruralwatch.cli import app

    group = get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_top_level_help_imports_nothing_heavy() -> None:
    report = _help()
    assert report["code"] == 0
    assert "detect" in str(report["stdout"])
    assert report["heavy"] == [], report["heavy"]


@pytest.mark.parametrize("command", _commands())
def test_command_help_imports_nothing_heavy(command: str) -> None:
    report = _help(command)
    assert report["code"] == 0, report
    assert report["heavy"] == [], report["heavy"]


def test_the_probe_sees_heavy_imports() -> None:
    """The check is live: a command that runs (not just its help) does import numpy."""
    top = {h for h in HEAVY if "." not in h}
    code = _PROBE.replace("{HEAVY_TOP}", repr(top)).replace(
        "from ruralwatch.cli import app", "from ruralwatch.cli import app\nimport numpy"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert "numpy" in json.loads(proc.stderr.strip().splitlines()[-1])["heavy"]
