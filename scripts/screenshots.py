"""Screenshots of the main pages for the README (docs/screenshots/*.png), from the demo.

    RURALWATCH_ENV=development .venv/bin/ruralwatch demo --no-serve
    RURALWATCH_ENV=development .venv/bin/ruralwatch serve --port 8052 &
    RURALWATCH_ENV=development .venv/bin/python scripts/screenshots.py --base http://127.0.0.1:8052

(with the same ``DATABASE_URL`` / ``RURALWATCH_VAR`` for all three). The script signs the demo's
users in by making their sessions with Django (``Client.force_login`` against the server's
database and secret key), so it needs no password; then Playwright drives Debian's chromium
(``/usr/bin/chromium``) through each page, waits for the charts, the map and the panels fetched
after the page, fails on a console error or an HTTP error, and writes a PNG per page:
Chinese on a 1440×900 desktop, the village doctor's page on a 390×844 phone, and the county
page in English.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
#: Tallest screenshot (CSS pixels): a full page beyond this is cut (the README shows the top).
MAX_HEIGHT = 2600


@dataclass(frozen=True)
class Shot:
    name: str
    user: str
    path: str
    language: str = "zh-hans"
    viewport: dict[str, int] | None = None
    full_page: bool = True


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    sys.path.insert(0, str(REPO / "src"))
    import django

    django.setup()


def _sessions(usernames: set[str]) -> dict[str, tuple[str, str]]:
    """A session cookie (name, value) per demo user, made in this process with Django."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    out = {}
    for name in sorted(usernames):
        user = get_user_model().objects.get(username=name)
        client = Client()
        client.force_login(user)
        out[name] = (
            settings.SESSION_COOKIE_NAME,
            client.cookies[settings.SESSION_COOKIE_NAME].value,
        )
    return out


def _first_task_path() -> str:
    """The most urgent open signal task of the demo county (a task page with its chart)."""
    from ruralwatch.dispatch.models import OPEN_STATUSES, Task

    task = (
        Task.objects.filter(status__in=OPEN_STATUSES, kind_id="signal").order_by("due_ack").first()
        or Task.objects.order_by("pk").first()
    )
    if task is None:
        raise SystemExit("the demo has no task: run `ruralwatch demo --no-serve` first")
    return f"/dispatch/tasks/{task.pk}/"


def _county_code() -> str:
    from ruralwatch.areas.models import Area

    county = Area.objects.filter(level=3).order_by("code").first()
    if county is None:
        raise SystemExit("no county in the database: run `ruralwatch demo --no-serve` first")
    return county.code


def _township_code(county: str) -> str:
    from ruralwatch.areas.models import Area

    return Area.objects.filter(parent_id=county).order_by("code").values_list("code", flat=True)[0]


def shots() -> list[Shot]:
    county = _county_code()
    return [
        Shot("county-overview-zh", "demo", f"/area/{county}/"),
        Shot("township-map-zh", "demo", f"/area/{_township_code(county)}/"),
        Shot("inbox-zh", "demo", "/dispatch/"),
        Shot("task-zh", "demo", _first_task_path()),
        Shot("keygroups-zh", "demo", "/keygroups/"),
        Shot("briefings-zh", "demo", f"/briefings/area/{county}/"),
        # The village doctor's work page (where a doctor lands after logging in).
        Shot("doctor-phone-zh", "demo_doctor", "/keygroups/today/", viewport=PHONE),
        Shot("county-overview-en", "demo", f"/area/{county}/", language="en"),
    ]


def _wait_for_page(page: Any) -> None:
    """Charts drawn (or failed: then the console has said so), lazy panels loaded."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-spec]')].every(
                 el => el.dataset.rendered || !document.getElementById(el.dataset.spec))
             && !document.querySelector('[data-lazy]')
             && !document.querySelector('[aria-busy=true]')""",
        timeout=60_000,
    )


def take(base: str, out: Path, only: set[str] | None = None) -> list[Path]:
    from playwright.sync_api import sync_playwright

    _django()  # every database read before Playwright's event loop starts
    todo = [s for s in shots() if not only or s.name in only]
    cookies = _sessions({s.user for s in todo})
    host = base.split("://", 1)[1].split("/", 1)[0].split(":")[0]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for shot in todo:
            context = browser.new_context(
                viewport=shot.viewport or DESKTOP,
                locale="en-GB" if shot.language == "en" else "zh-CN",
                extra_http_headers={"Accept-Language": shot.language},
                device_scale_factor=1,
            )
            name, value = cookies[shot.user]
            context.add_cookies([{"name": name, "value": value, "domain": host, "path": "/"}])
            page = context.new_page()
            page.set_default_timeout(120_000)  # a worker's first page builds its caches
            errors: list[str] = []
            page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
            response = page.goto(base.rstrip("/") + shot.path)
            if response is None or response.status >= 400:
                problems.append(f"{shot.name}: HTTP {response.status if response else '?'}")
            _wait_for_page(page)
            height = page.evaluate("document.documentElement.scrollHeight")
            width = (shot.viewport or DESKTOP)["width"]
            target = out / f"{shot.name}.png"
            if shot.full_page:
                page.screenshot(
                    path=str(target),
                    full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": min(height, MAX_HEIGHT)},
                )
            else:
                page.screenshot(path=str(target))
            overflow = page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            if overflow:
                problems.append(f"{shot.name}: the page scrolls sideways")
            problems += [f"{shot.name}: console: {e}" for e in errors]
            written.append(target)
            print(f"{target}  {width}×{min(height, MAX_HEIGHT)} (page {height})")
            context.close()
        browser.close()
    if problems:
        raise SystemExit("\n".join(problems))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="the served demo")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="names of the shots to take")
    args = parser.parse_args()
    take(args.base, args.out, set(args.only) if args.only else None)


if __name__ == "__main__":
    main()
