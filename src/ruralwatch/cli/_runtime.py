"""Shared helpers for commands: Django start-up, database set-up, console, error exits.

Imported by every command module at start-up, so it imports nothing heavy (Django, numpy,
polars, ``ruralwatch.epi``) at the top: ``ruralwatch --help`` must stay instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A Rich console made on first use, so that importing the commands does not import Rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.get().print(*objects, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = _LazyConsole(stderr=True, soft_wrap=True)
out = _LazyConsole(soft_wrap=True)


def django_setup(migrate: bool = True) -> None:
    """Configure Django and (by default) bring the database schema up to date."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:  # a missing secret or a bad setting: say which
        raise fail(str(exc), 2) from None
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        from pathlib import Path

        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar driven by ``update(stage, advance, total)`` calls."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console.get(),
        transient=True,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(stage: str, advance: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], advance=advance, total=total)  # type: ignore[arg-type]

        yield update


def import_each(files: list[Any], importer: Callable[..., Any]) -> tuple[list[Any], int]:
    """Run an all-or-nothing ``importer(file, progress=…)`` on each file, printing every
    problem of a rejected file; returns the summaries and the number of rejected files."""
    from ruralwatch.core.problems import ImportRejected

    summaries, rejected = [], 0
    for file in files:
        try:
            with progress_bar() as update:
                summaries.append(importer(file, progress=update))
        except ImportRejected as exc:
            rejected += 1
            console.print(exc.render(limit=200), highlight=False, markup=False)
            console.print(f"[red]{file.name}: {exc}[/]", highlight=False)
    return summaries, rejected
