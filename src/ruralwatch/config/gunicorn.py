"""Gunicorn settings for ``ruralwatch serve`` (``-c python:ruralwatch.config.gunicorn``).

``ruralwatch serve`` passes the bind address, workers, threads and timeout on the command line;
what is fixed lives here. Workers are threaded (``gthread``): a request holds one thread, and a
thread holds at most one database connection, so a server holds at most workers × threads
connections (each worker's PostgreSQL pool is sized to its threads). Requests beyond the
threads wait in the listen backlog instead of being refused.
"""

from __future__ import annotations

from typing import Any

wsgi_app = "ruralwatch.config.wsgi:application"
worker_class = "gthread"
#: Connections the kernel queues while every thread is busy (a busy morning: hundreds).
backlog = 2048
#: Keep-alive between a reverse proxy and the server.
keepalive = 5
graceful_timeout = 30
#: A worker is replaced after this many requests (bounded memory over months of running).
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
loglevel = "info"
#: Only a proxy on this machine may say a request came over HTTPS.
forwarded_allow_ips = "127.0.0.1,::1"
#: Django reads the client address from the proxy's header (RURALWATCH_CLIENT_IP_HEADER).
proxy_allow_ips = "127.0.0.1,::1"
#: systemd (or the demo) supervises the server; no gunicornc control socket.
control_socket_disable = True
preload_app = False  # each worker opens its own database pool after the fork


def post_worker_init(worker: Any) -> None:
    """Load the URL configuration (every view, the API and what they import) before the worker
    takes its first request, so the first users of a fresh worker do not wait for imports."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the attribute load is the point


def release_database_connections() -> None:
    """Close this process's database connections and its pool (if any), giving them back to
    PostgreSQL: before ``serve`` execs gunicorn, and when a worker exits."""
    from django.db import connections

    for alias in connections:
        conn = connections[alias]
        conn.close()
        if alias in getattr(type(conn), "_connection_pools", {}):
            getattr(conn, "close_pool")()  # noqa: B009 - PostgreSQL wrappers only


def worker_exit(server: Any, worker: Any) -> None:
    """Give the worker's pooled database connections back to PostgreSQL before it exits."""
    release_database_connections()
