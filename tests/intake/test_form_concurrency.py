"""200 village doctors send their daily reports at once over loopback HTTP, with retries and
doubled sendings, to a live server on PostgreSQL: no report is lost and none is stored twice.

The server is the Django application behind a threaded WSGI server that handles at most
``WORKERS`` requests at a time (as a deployment's worker pool does; 200 database
connections at once would exceed PostgreSQL's default limit on this shared machine). Each
submitter makes its report's idempotency key once and keeps it for every retry: a quarter of
them send again after receiving the answer (an answer lost on the way), a tenth send the same
report on two connections at once, and any failed connection or 5xx is retried.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import Client

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.reporting.daily_form import form_indicators
from ruralwatch.reporting.models import FormReport, ReportValue, Submission
from tests.reporting.intake_world import COUNTY_200, FAST_HASHERS, county_file

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SUBMITTERS = 200
WORKERS = 16


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 512  # every submitter connects at once


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def serve(workers: int) -> tuple[_Server, threading.Thread]:
    """The Django application on a loopback port, ``workers`` requests at a time."""
    django_app = WSGIHandler()
    gate = threading.BoundedSemaphore(workers)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with gate:
            response = django_app(environ, start_response)
            try:
                return list(response)
            finally:
                response.close()
                # Each request runs in a thread of its own: close its database connection
                # (persistent connections would stay open until the thread's end).
                connections.close_all()

    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def sessions(villages: list[str]) -> dict[str, str]:
    """A logged-in session (cookie value) of a new village doctor for each village."""
    out = {}
    for code in villages:
        user = create_user_with_jurisdiction(f"doc_{code}", "pw-conc-123", code, "village_doctor")
        client = Client()
        client.force_login(user)
        out[code] = client.cookies["sessionid"].value
    return out


def post(port: int, path: str, body: bytes, session: str, csrf: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Cookie": f"sessionid={session}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
            },
        )
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data.startswith(b"{") else {}
    finally:
        conn.close()


def test_200_concurrent_submitters_none_lost_none_doubled(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the concurrency test runs on PostgreSQL (DATABASE_URL)")
    settings.PASSWORD_HASHERS = FAST_HASHERS
    from ruralwatch.areas.services import import_areas

    import_areas(county_file(COUNTY_200))
    villages = list(
        Area.objects.filter(level=5, l3=COUNTY_200).order_by("code").values_list("code", flat=True)
    )
    assert len(villages) == SUBMITTERS
    codes = [i.code for i in form_indicators(Area.objects.get(code=villages[0]))]
    cookies = sessions(villages)
    day = "2026-11-20"
    server, thread = serve(WORKERS)
    port = server.server_address[1]
    rng = random.Random(13)
    plan = {v: (rng.random() < 0.25, rng.random() < 0.10) for v in villages}
    statuses: Counter[int] = Counter()
    sent: dict[str, tuple[str, int]] = {}
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(SUBMITTERS)

    def submitter(index: int, village: str) -> None:
        key, cases = uuid.uuid4().hex, index % 7
        values = {c: (cases if c == "new_cases" else 0) for c in codes}
        body = json.dumps({"key": key, "date": day, "values": values, "reporter": village})
        csrf = secrets.token_hex(16)
        path = f"/intake/report/{village}/"
        with lock:
            sent[village] = (key, cases)
        again, doubled = plan[village]

        def send_until_answered() -> None:
            for attempt in range(8):
                try:
                    status, answer = post(port, path, body.encode(), cookies[village], csrf)
                except OSError:
                    status, answer = 0, {}
                with lock:
                    statuses[status] += 1
                if status in (200, 201):
                    return
                if 400 <= status < 500:
                    with lock:
                        failures.append(f"{village}: {status} {answer}")
                    return
                time.sleep(0.05 * 2**attempt)
            with lock:
                failures.append(f"{village}: no answer after retries")

        barrier.wait()
        if doubled:
            twin = threading.Thread(target=send_until_answered)
            twin.start()
            send_until_answered()
            twin.join()
        else:
            send_until_answered()
        if again:
            send_until_answered()

    threads = [threading.Thread(target=submitter, args=(i, v)) for i, v in enumerate(villages)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    server.shutdown()
    server.server_close()
    thread.join()

    assert not failures, failures[:5]
    stored = dict(FormReport.objects.values_list("area_id", "key"))
    assert len(stored) == FormReport.objects.count() == SUBMITTERS  # none doubled
    assert stored == {v: k for v, (k, _c) in sent.items()}  # none lost
    assert Submission.objects.filter(date=day).count() == SUBMITTERS
    values = dict(
        ReportValue.objects.filter(date=day, indicator_id="new_cases").values_list(
            "area_id", "value"
        )
    )
    assert values == {v: c for v, (_k, c) in sent.items()}
    assert ReportValue.objects.filter(date=day).count() == SUBMITTERS * len(codes)
    assert statuses[201] == SUBMITTERS  # each key stored exactly once; the rest answered 200
    extra = sum(1 for a, d in plan.values() if a) + sum(1 for a, d in plan.values() if d)
    assert statuses[200] >= extra
    print(f"\n{sum(statuses.values())} requests in {elapsed:.2f} s: {dict(statuses)}")
