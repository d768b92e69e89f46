"""The ``ruralwatch`` command run inside a test, on the test's database."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from click.testing import Result
from typer.testing import CliRunner


def skip_cli_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every command module's start-up (``django_setup``: set Django up, migrate) a no-op:
    the test database is already there and migrated."""
    import ruralwatch.cli  # noqa: F401  (the app imports every command module)

    for name, module in list(sys.modules.items()):
        if name.startswith("ruralwatch.cli") and hasattr(module, "django_setup"):
            monkeypatch.setattr(module, "django_setup", lambda migrate=True: None)


def cli_runner(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``invoke(args)``: ``ruralwatch ARGS`` in this process (:func:`skip_cli_setup`), output
    wide enough that no line of a table is wrapped."""
    from ruralwatch.cli import app

    skip_cli_setup(monkeypatch)
    runner = CliRunner(env={"COLUMNS": "250"})
    return lambda args, **kw: runner.invoke(app, args, **kw)
