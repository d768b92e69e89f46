"""Weight and server time of the key-group pages issue 12 found too heavy, on the demo's data.

    make demo && RURALWATCH_ENV=development python -m bench.keygroup_pages [--runs 5]

Renders, as the demo's county user (320 doctors, 2,934 cadres, 289 villages), the register
form, and as a village account not linked to a doctor (the demo's largest village) the day's
list, page 1; as the county, the largest audit list (page 1) and its XLSX export. Each view is
called in-process (RequestFactory, no HTTP) inside a transaction that is rolled back, so the
access-log rows the lists write do not stay in the demo's database. Prints KB and the median
milliseconds of ``--runs`` renders.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    import django

    django.setup()


def _request(path: str, user: Any, **query: str) -> Any:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.cache import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get(path, query)
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


def _measure(name: str, runs: int, call: Any) -> dict[str, Any]:
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - start) * 1000)
        size = len(response.content)
        assert response.status_code == 200, (name, response.status_code)
    row = {"page": name, "kb": round(size / 1024, 1), "ms": round(statistics.median(times))}
    print(f"| {name} | {row['kb']} KB | {row['ms']} ms |")
    return row


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    _setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Count
    from django.utils import translation

    from ruralwatch.accounts.models import Profile
    from ruralwatch.accounts.services import create_user_with_jurisdiction
    from ruralwatch.keygroups import selectors, views
    from ruralwatch.keygroups.models import Person

    translation.activate("zh-hans")
    county = Profile.objects.filter(role="county").select_related("user", "jurisdiction").first()
    if county is None:
        raise SystemExit("no county user: run `make demo` first")
    rows = []
    print("| page | weight | server time (median) |\n|---|---|---|")
    with transaction.atomic():
        user = county.user
        rows.append(
            _measure(
                "register form (county)",
                args.runs,
                lambda: views.register(_request("/keygroups/register/", user)),
            )
        )
        biggest = (
            Person.objects.filter(status="active")
            .values("village_id")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        assert biggest is not None
        username = "bench-village-account"
        get_user_model().objects.filter(username=username).delete()
        village_user = create_user_with_jurisdiction(
            username, "bench-pw-not-used-1", biggest["village_id"], "village_cadre"
        )
        rows.append(
            _measure(
                f"day's list, village account ({biggest['n']:,} persons), page 1",
                args.runs,
                lambda: views.today(_request("/keygroups/today/", village_user)),
            )
        )
        root = county.jurisdiction
        assert root is not None
        rows.append(
            _measure(
                "audit list: contact overdue (county), page 1",
                args.runs,
                lambda: views.audit_detail(
                    _request(f"/keygroups/area/{root.code}/audit/contact_overdue/", user),
                    root.code,
                    "contact_overdue",
                ),
            )
        )
        rows.append(
            _measure(
                "audit list: contact overdue (county), XLSX export",
                1,
                lambda: views.audit_detail(
                    _request(
                        f"/keygroups/area/{root.code}/audit/contact_overdue/", user, format="xlsx"
                    ),
                    root.code,
                    "contact_overdue",
                ),
            )
        )
        assert selectors.AUDIT_KINDS
        transaction.set_rollback(True)
    return rows


if __name__ == "__main__":
    main()
