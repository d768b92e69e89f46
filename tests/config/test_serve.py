"""``ruralwatch serve`` is a real production server: gunicorn answers, WhiteNoise serves the
hashed static files with long caching, plain HTTP is redirected, HSTS and secure cookies are
sent behind the proxy, and TERM stops it cleanly. Started as an operator would, in the
documented production environment (on a scratch SQLite database)."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.config.test_settings import documented_production_env

HTTPS = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_serve_in_production(tmp_path: Path) -> None:
    env = documented_production_env(tmp_path) | {"ALLOWED_HOSTS": "127.0.0.1"}
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ruralwatch",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--threads",
            "2",
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 400
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if _get(port, "/healthz", {"Host": "127.0.0.1"}).status == 200:
                    break  # over plain HTTP: the health probe is exempt from the redirect
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(1)
        # Plain HTTP (no proxy header) is sent to HTTPS.
        plain = _get(port, "/accounts/login/", {"Host": "127.0.0.1"})
        assert plain.status == 301
        assert plain.getheader("Location") == "https://127.0.0.1/accounts/login/"
        # Through the TLS proxy: the page, with HSTS and a secure CSRF cookie.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/accounts/login/", headers=HTTPS)
        page = conn.getresponse()
        html = page.read().decode()
        conn.close()
        assert page.status == 200
        assert page.getheader("Strict-Transport-Security") == (
            "max-age=31536000; includeSubDomains; preload"
        )
        cookie = page.getheader("Set-Cookie") or ""
        assert "csrftoken=" in cookie and "Secure" in cookie
        # The page links hashed static names (manifest), which WhiteNoise serves for ever.
        css = re.search(r'href="(/static/dashboard/dashboard\.[0-9a-f]{12}\.css)"', html)
        assert css, html[:500]
        static = _get(port, css.group(1), HTTPS)
        assert static.status == 200
        assert "max-age=315360000" in (static.getheader("Cache-Control") or "")
        assert (tmp_path / "var" / "static" / "staticfiles.json").exists()  # collected at start
        out = (tmp_path / "serve.log").read_text()
        assert "Using worker: gthread" in out and "2 workers × 2 threads" in out
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
        log.close()
    assert code == 0
    assert "Shutting down: Master" in (tmp_path / "serve.log").read_text()
