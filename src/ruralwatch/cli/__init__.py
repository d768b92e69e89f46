"""The ``ruralwatch`` command.

Each command group lives in its own module under ``ruralwatch.cli`` and exposes
``register(app)``; this module only assembles them. Commands parse arguments and call one
service, selector or ``epi`` function: no business logic here.

Every command module is imported at start-up, so none of them imports Django, numpy, scipy,
polars or ``ruralwatch.epi`` at module level: they do so inside the command that needs them
(checked by ``tests/cli/test_startup.py``).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="ruralwatch",
    help="RuralWatch (乡村守望): rural epidemic prevention and control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help text: Rich help panels import Rich's markdown, syntax and traceback modules,
    # which alone would take ``ruralwatch --help`` past its 0.3 s budget.
    rich_markup_mode=None,
)

# One module per command group; each defines ``register(app: typer.Typer) -> None``.
_COMMAND_MODULES: tuple[str, ...] = (
    "areas",
    "reports",
    "demo",
    "cycle",
    "assess",
    "detect",
    "evaluate",
    "keygroups",
    "serve",
    "users",
    "keys",
    "brief",
    "worker",
    "keyareas",
    "resources",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"ruralwatch.cli.{_name}").register(app)


def main() -> None:  # pragma: no cover - console entry
    app()
