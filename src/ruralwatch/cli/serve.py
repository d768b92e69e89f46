"""``ruralwatch serve``: the production server (gunicorn, threaded workers, WhiteNoise).

Start-up brings the schema up to date, runs Django's system checks, collects static files into
``<RURALWATCH_VAR>/static`` and then replaces this process with gunicorn, so a service manager
(systemd) supervises gunicorn directly and its signals (TERM: graceful stop, HUP: reload) work.
"""

from __future__ import annotations

import io
import os
import sys

import typer

from ruralwatch.cli._runtime import console, django_setup, fail

#: Threads per worker; each worker's PostgreSQL pool holds at most this many connections.
DEFAULT_THREADS = 4


def default_workers() -> int:
    """Two workers per CPU core available to this process, at least 2 and at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(2, min(8, 2 * cores))


def gunicorn_argv(host: str, port: int, workers: int, threads: int, timeout: int) -> list[str]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:ruralwatch.config.gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        str(timeout),
        "--name",
        "ruralwatch",
    ]


def prepare(*, threads: int, migrate: bool) -> None:
    """Everything the server needs before it takes requests, in this (pre-exec) process."""
    # Each worker's pool gets one connection per thread (read by the settings in the workers).
    os.environ["RURALWATCH_DB_POOL_SIZE"] = str(threads)
    django_setup(migrate=migrate)
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from ruralwatch.config.gunicorn import release_database_connections

    try:
        call_command("check", fail_level="ERROR", stdout=io.StringIO())
    except SystemCheckError as exc:
        raise fail(str(exc)) from None
    call_command("collectstatic", interactive=False, verbosity=0)
    release_database_connections()  # nothing of this process's database state crosses exec


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        0, "--workers", min=0, max=64, help="Worker processes (0: two per CPU core, 2 to 8)."
    ),
    threads: int = typer.Option(
        DEFAULT_THREADS, "--threads", min=1, max=64, help="Request threads per worker."
    ),
    timeout: int = typer.Option(
        300,
        "--timeout",
        min=10,
        help="Seconds a request may take (large imports) before its worker is restarted.",
    ),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Apply database migrations before serving."
    ),
) -> None:
    """Serve the web site and API with gunicorn: at most WORKERS × THREADS requests and
    database connections at a time; further requests wait in the queue, none is refused."""
    workers = workers or default_workers()
    prepare(threads=threads, migrate=migrate)
    from django.conf import settings

    console.print(
        f"[bold]RuralWatch[/] on http://{host}:{port}/ ({settings.RURALWATCH_ENV}): "
        f"{workers} workers × {threads} threads, at most {workers * threads} database "
        "connections",
        highlight=False,
    )
    argv = gunicorn_argv(host, port, workers, threads, timeout)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
