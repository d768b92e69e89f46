"""The demo run in other ways than test_demo.py's shared one: again in the same database (the
second ``make demo`` of a checkout), as the command on its embedded SQLite database, and in the
rebound scenario. Each starts from the test database without a demo in it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ruralwatch.cycle.demo import DEMO_END, run_demo

SEED = 20230122


@pytest.mark.django_db
def test_the_demo_run_again_replaces_what_it_wrote(tmp_path: Path) -> None:
    """The whole demo run again in the same database (the second `make demo` of a checkout)
    replaces what the first wrote: the same rows, the same summary. (The last two weeks of
    the winter: what is checked is the re-run, not the epidemic.)"""
    start = DEMO_END - dt.timedelta(days=13)
    # Without the key-group registry (70,000 encrypted persons, most of a demo's time); the
    # test above checks that deleting the region removes it.
    result = run_demo(tmp_path, seed=SEED, start=start, keygroups=False)
    assert result.summary["days"] == 14 and sum(result.summary["tasks"]["created"].values())
    state = _state()
    again = run_demo(tmp_path, seed=SEED, start=start, keygroups=False)
    assert again.summary == result.summary
    assert _state() == state


#: Tables that log what happened (one row per import or read) rather than hold state.
_LOGS = {"ImportBatch", "RosterImport", "AccessLog", "ScreenTake"}
#: Columns that describe a document's making: a briefing prints when it was generated, so its
#: bytes (size, checksum) and rendering time differ from run to run; its content does not.
_MADE = {"Briefing": {"size", "sha256", "seconds"}}


def _state() -> dict[str, tuple[int, str]]:
    """Every table of the project's apps as (row count, digest of its sorted rows), leaving out
    what a rebuild renumbers or re-randomises: automatic keys and references to them,
    timestamps and encrypted tokens (Fernet tokens differ on every encryption)."""
    import hashlib

    from django.apps import apps
    from django.db import models

    out = {}
    for model in apps.get_models():
        meta = model._meta
        if not meta.app_config.name.startswith("ruralwatch."):
            continue
        if model.__name__ in _LOGS or not meta.managed:
            continue
        fields = [
            f.attname
            for f in meta.concrete_fields
            if not isinstance(f, (models.AutoField, models.BigAutoField, models.DateTimeField))
            and not f.attname.endswith("_enc")
            and f.attname not in _MADE.get(model.__name__, set())
            and not (
                f.is_relation
                and isinstance(f.target_field, (models.AutoField, models.BigAutoField))
            )
        ]
        rows = sorted(model._default_manager.values_list(*fields), key=repr)
        out[model.__name__] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def test_cli_demo_no_serve_on_embedded_sqlite(tmp_path: Path) -> None:
    """The command on its embedded SQLite database, whatever the test run's database: no
    ``django_db`` mark, so the PostgreSQL pass of ``make test`` does not run it again."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["RURALWATCH_VAR"] = str(tmp_path / "var")
    exe = Path(sys.executable).parent / "ruralwatch"
    proc = subprocess.run(
        # ten days, no key groups: this checks the command and the embedded database
        [
            str(exe),
            "demo",
            "--no-serve",
            "--days",
            "10",
            "--no-keygroups",
            "--out",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert set(summary) >= {
        "region",
        "areas_by_level",
        "days",
        "values_loaded",
        "completeness_by_level",
        "county_series",
    }
    assert (tmp_path / "var" / "ruralwatch.sqlite3").exists()
    assert summary["region"]["name"] in proc.stdout
    assert summary["days"] == 10 and summary["period"]["start"] == "2023-01-27"


@pytest.mark.django_db
def test_rebound_scenario_is_judged_a_rebound_naming_its_townships(tmp_path: Path) -> None:
    result = run_demo(tmp_path, seed=SEED, scenario="rebound", keygroups=False)
    s = result.summary
    j = s["judgement"]
    assert j["rebound_after"]["detected"] is True
    named = {a["code"] for a in j["rebound_after"]["areas"]}
    assert named == set(s["scenario"]["rebound_townships"])
    for a in j["rebound_after"]["areas"]:
        assert a["from"] >= "2023-01-22"
        assert a["name"] in j["text_zh"] and a["name"] in j["text_en"]
    assert "回升" in j["text_zh"] and "renewed rise" in j["text_en"]
    # The briefing the demo issued carries the same headline, naming the same townships.
    text = "".join(
        subprocess.run(
            ["pdftotext", "-layout", s["briefing"]["path"], "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    )
    assert "回升" in text
    for a in j["rebound_after"]["areas"]:
        assert a["name"] in text, a["name"]
