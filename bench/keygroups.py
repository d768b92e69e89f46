"""Key-group registry at province scale (issue 4, "Speed"): about ten million registered
persons in the synthetic province, loaded set-based into a fresh PostgreSQL database; then the
whole-province overdue lists and coverage, one village doctor's list, the ``kg_*`` indicators
and the "no omissions" audit of one county, timed. A county-sized sample runs on SQLite too.

Persons come from ``build_persons`` (vectorised), one prefecture at a time, on a province whose
per-village key-group counts (and 65+ populations) are scaled up so that the registry holds
about ``TARGET_PERSONS``. A worker process generates the next prefecture (Parquet files) while
the database loads the previous one. Contacts are generated for the last ``HISTORY_DAYS`` days
only, and only those the registry's denormalised columns and escalations depend on are loaded:
each person's last contact plus every positive test and low SpO₂ reading (none of the timed
reads touches the full histories). The province is loaded with ``encrypt=False`` (one constant
Fernet token, of a real token's length, instead of per-row tokens; the keyed hashes are
computed); the encrypting path is timed afterwards by reloading one county with
``encrypt=True``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import json
import multiprocessing
import statistics
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from bench._util import PG_ADMIN_URL, log, postgres_env, run_child, sqlite_env, timed

SEED = 20230122
ON = dt.date(2023, 2, 5)
HISTORY_DAYS = 21  # contacts generated for the last three weeks (3× the longest interval)
START = ON - dt.timedelta(days=HISTORY_DAYS - 1)
TARGET_PERSONS = 10_000_000
PG_DB = "ruralwatch_bench_kg"  # its own database: never the one bench.load uses
STEP_TIMEOUT_S = 5400.0
N_DOCTORS = 20
REPEAT = 3
PERSON_GROUPS = ("age65", "left_behind_child", "disabled", "pregnant")  # one row per person
AREA_COLUMNS = [
    "code", "name", "level", "parent_code", "urban_rural", "population",
    "population_65plus", "key_areas",
]  # fmt: skip
TARGETS = {"province_s": 10.0, "doctor_list_ms": 200.0}


# --------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------


def scaled_region(quick: bool) -> tuple[Any, float]:
    """The synthetic province (quick: one county), its key-group counts scaled by a factor
    that brings the registry to about ``TARGET_PERSONS``; 65+ populations follow."""
    from ruralwatch.synth import build_region

    region = build_region(SEED, scale="county" if quick else "province")
    if quick:
        return region, 1.0
    kg = region.keygroups
    base = int(kg.filter(pl.col("group").is_in(PERSON_GROUPS))["count"].sum())
    factor = TARGET_PERSONS / base
    kg = kg.with_columns((pl.col("count") * factor).round().cast(pl.Int64))
    # 65+ of a village = its scaled age65 registry; of a higher level = the sum of its villages.
    v65 = (
        kg.filter(pl.col("group") == "age65")
        .group_by("area_code")
        .agg(pl.col("count").sum().alias("p65"))
    )
    width = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
    areas = region.areas.with_columns(
        pl.col("level").replace_strict(width, return_dtype=pl.Int64).alias("_w")
    )
    sums = []
    for level, w in width.items():
        part = v65.group_by(pl.col("area_code").str.slice(0, w).alias("_p")).agg(
            pl.col("p65").sum()
        )
        sums.append(part.with_columns(pl.lit(level, pl.Int8).alias("level")))
    p65 = pl.concat(sums)
    areas = (
        areas.with_columns(pl.col("code").str.slice(0, pl.col("_w")).alias("_p"))
        .join(p65, on=["_p", "level"], how="left")
        .with_columns(
            pl.col("p65").fill_null(0).cast(pl.Int64).alias("population_65plus"),
            (pl.col("population") * factor).round().cast(pl.Int64).alias("population"),
        )
        .drop("_w", "_p", "p65")
        .select(region.areas.columns)
    )
    return dataclasses.replace(region, areas=areas, keygroups=kg), factor


def registry_contacts(contacts: pl.DataFrame) -> pl.DataFrame:
    """The contacts the registry depends on: each person's last one (``last_contact``,
    ``last_status``) and every positive test or low SpO₂ reading (escalation, referrals)."""
    trigger = (pl.col("status") == "positive") | (pl.col("spo2").fill_null(100) < 93)
    last = pl.col("date") == pl.col("date").max().over("ref")
    return contacts.filter(last | trigger)


def _chunks(region: Any) -> list[str]:
    """Area codes to generate and load one at a time (the prefectures)."""
    return region.areas.filter(pl.col("level") == 2).sort("code")["code"].to_list()


def _first(region: Any, level: int) -> str:
    code: str = region.areas.filter(pl.col("level") == level).sort("code")["code"][0]
    return code


# --------------------------------------------------------------------------------------------
# Children (one database each)
# --------------------------------------------------------------------------------------------


def _progress_writer(path: Path) -> tuple[dict[str, Any], Any]:
    out: dict[str, Any] = {}

    def step(**values: Any) -> None:
        out.update(values)
        path.write_text(json.dumps(out, default=str), encoding="utf-8")

    return out, step


def _timed_doctor_lists(root_path: str) -> dict[str, Any]:
    """``doctor_list`` of ``N_DOCTORS`` doctors spread over the subtree (evaluated in full)."""
    from ruralwatch.keygroups.models import Responsible
    from ruralwatch.keygroups.selectors import doctor_list

    codes = list(
        Responsible.objects.filter(kind="doctor", area__path__startswith=root_path)
        .order_by("code")
        .values_list("code", flat=True)
    )
    step = max(len(codes) // N_DOCTORS, 1)
    picked = codes[step // 2 :: step][:N_DOCTORS]
    times, rows, patients = [], [], []
    for code in picked:
        resp = Responsible.objects.get(code=code)
        out, sec = timed(lambda r=resp: list(doctor_list(r, ON)))
        times.append(sec)
        rows.append(len(out))
        patients.append(resp.patients.filter(status="active").count())
    return {
        "doctors": len(codes),
        "sampled": len(picked),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "min_s": min(times),
        "rows_median": statistics.median(rows),
        "patients_median": statistics.median(patients),
    }


def _timed_reads(root: Any, county: Any, step: Any, truth_ids: set[str] | None) -> None:
    """Every timed read on ``root`` (and the audit on ``county``); results through ``step``."""
    from ruralwatch.keygroups.selectors import (
        audit,
        audit_summary,
        coverage,
        overdue_by_responsible,
    )
    from ruralwatch.keygroups.services import write_indicators

    def first_and_best(fn: Any) -> tuple[Any, float, float]:
        out, first = timed(fn)
        best = first
        for _ in range(REPEAT - 1):
            out, sec = timed(fn)
            best = min(best, sec)
        return out, first, best

    by_doc, first, best = first_and_best(lambda: overdue_by_responsible(root.path, ON, "doctor"))
    step(
        overdue_doctor_first_s=first,
        overdue_doctor_s=best,
        overdue_doctor_rows=len(by_doc),
        overdue_total=sum(r["overdue"] for r in by_doc),
        due_total=sum(r["due"] for r in by_doc),
    )
    by_cadre, first, best = first_and_best(lambda: overdue_by_responsible(root.path, ON, "cadre"))
    step(overdue_cadre_first_s=first, overdue_cadre_s=best, overdue_cadre_rows=len(by_cadre))
    cov_level = min(root.level + 1, 4)
    cov, first, best = first_and_best(lambda: coverage(root.path, ON, cov_level))
    registered = sum(r["registered"] for r in cov)
    covered = sum(r["covered"] for r in cov)
    step(
        coverage_level=cov_level,
        coverage_first_s=first,
        coverage_s=best,
        coverage_rows=len(cov),
        registered_active=registered,
        coverage_share=covered / registered if registered else None,
    )
    cov5, first, best = first_and_best(lambda: coverage(root.path, ON, 5))
    step(coverage_villages_first_s=first, coverage_villages_s=best, coverage_villages=len(cov5))
    step(doctor_list=_timed_doctor_lists(root.path))
    n_values, sec = timed(lambda: write_indicators(ON, root))
    step(write_indicators_s=sec, indicator_values=n_values)
    found, sec = timed(lambda: audit(county, ON))
    summary = audit_summary(found)
    agreement = None
    if truth_ids is not None:
        ids = {f["id"] for f in found}
        hit = len(ids & truth_ids)
        agreement = {
            "truth": len(truth_ids),
            "found": len(ids),
            "recall": hit / len(truth_ids) if truth_ids else None,
            "precision": hit / len(ids) if ids else None,
        }
    step(
        audit_area=county.code,
        audit_s=sec,
        audit_findings=len(found),
        audit_by_kind=summary,
        audit_agreement=agreement,
    )


PARTS = ("persons", "memberships", "responsible", "contacts", "referrals", "expected")


def generate_part(
    quick: bool, code: str, seed: int, outdir: str, truth_prefix: str
) -> dict[str, Any]:
    """Generate the persons of area ``code`` and write them as Parquet files to ``outdir``.

    Runs in a worker process, so that the next prefecture is generated while the database
    loads the previous one. Returns the file paths, timings, the truth ids of the areas under
    ``truth_prefix`` and the worker's peak RSS.
    """
    from bench._util import peak_rss_mib
    from ruralwatch.synth.persons import build_persons

    region, _ = scaled_region(quick)
    people, gen_s = timed(lambda: build_persons(region, seed, on=ON, start=START, within=code))
    reduced, reduce_s = timed(lambda: registry_contacts(people.contacts))
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in PARTS:
        frame = reduced if name == "contacts" else getattr(people, name)
        paths[name] = str(out / f"{name}.parquet")
        frame.write_parquet(paths[name])
    return {
        "paths": paths,
        "generate_s": gen_s + reduce_s,
        "contacts_generated": people.contacts.height,
        "truth": sorted(_truth_ids(people, truth_prefix)),
        "worker_rss_mib": peak_rss_mib(),
    }


def _read_part(gen: dict[str, Any]) -> Any:
    from ruralwatch.synth.persons import Persons

    frames = {name: pl.read_parquet(path) for name, path in gen["paths"].items()}
    return Persons(**frames, truth=[], on=ON, start=START)


def _load_part(gen: dict[str, Any], code: str, *, encrypt: bool) -> dict[str, Any]:
    """Load generated persons into the area ``code`` (replacing what was there)."""
    from ruralwatch.areas.models import Area
    from ruralwatch.keygroups.services import load_persons

    people = _read_part(gen)
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(f"{stage}_{'end' if done >= total else 'start'}", time.perf_counter())

    root = Area.objects.get(code=code)
    counts, load_s = timed(lambda: load_persons(people, root, encrypt=encrypt, progress=progress))
    for path in gen["paths"].values():
        Path(path).unlink(missing_ok=True)
    return {
        "generate_s": gen["generate_s"],
        "load_s": load_s,
        "encrypt_s": marks.get("encrypt_end", 0.0) - marks.get("encrypt_start", 0.0),
        "contacts_generated": gen["contacts_generated"],
        "person_rows": people.persons.height,
        **{k: int(v) for k, v in counts.items()},
    }


def _truth_ids(people: Any, prefix: str) -> set[str]:
    return {t["id"] for t in people.truth if str(t["area"]).startswith(prefix)}


def _table_sizes() -> dict[str, float]:
    from django.db import connection

    from ruralwatch.keygroups.models import Contact, Person

    out = {}
    with connection.cursor() as cur:
        for model in (Person, Contact):
            table = model._meta.db_table
            cur.execute("SELECT pg_total_relation_size(%s), pg_relation_size(%s)", [table, table])
            total, heap = cur.fetchone()
            out[model.__name__.lower()] = {"total_mib": total / 2**20, "heap_mib": heap / 2**20}
    return out


def _child_start(payload: dict[str, Any]) -> tuple[dict[str, Any], Any, Any, str]:
    """In a child: migrate, import the areas, build the (scaled) region. Returns the progress
    dict and its writer, the region and the code of its first county (the audited one)."""
    from bench._util import django_setup_migrate

    out, step = _progress_writer(Path(payload["progress"]))
    step(migrate_s=django_setup_migrate())
    from ruralwatch.areas.services import import_areas

    step(areas_import_s=timed(lambda: import_areas(payload["areas"]))[1])
    region, _factor = scaled_region(payload["quick"])
    return out, step, region, _first(region, 3)


def pg_child(payload: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL: the whole (scaled) province, prefecture by prefecture; then the reads."""
    out, step, region, county_code = _child_start(payload)
    from django.db import connection

    from ruralwatch.areas.models import Area
    from ruralwatch.keygroups.models import Contact, Person

    county_prefix = county_code[:6]
    truth: set[str] = set()
    totals: dict[str, float] = {}
    chunks = []
    codes = _chunks(region)
    work = Path(payload["progress"]).parent / "parts"
    ctx = multiprocessing.get_context("spawn")
    worker_rss = 0.0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:

        def submit(i: int) -> Any:
            args = (payload["quick"], codes[i], SEED + i, str(work / str(i)), county_prefix)
            return pool.submit(generate_part, *args)

        pending = submit(0)
        for i, code in enumerate(codes):
            gen = pending.result()
            if i + 1 < len(codes):
                pending = submit(i + 1)  # generated while this one loads
            truth.update(gen["truth"])
            worker_rss = max(worker_rss, gen["worker_rss_mib"])
            info = _load_part(gen, code, encrypt=False)
            gc.collect()
            chunks.append({"area": code, **info})
            for key, value in info.items():
                totals[key] = totals.get(key, 0) + value
            step(chunks=chunks, load_totals=totals, generator_peak_rss_mib=worker_rss)
            log(f"keygroups: loaded {code}: {info}")
    step(load_wall_s=time.perf_counter() - t0)

    def vacuum() -> None:
        # What autovacuum would do after a bulk load: the visibility map of the person table
        # (index-only scans need it) and planner statistics everywhere.
        with connection.cursor() as cur:
            cur.execute(f"VACUUM (ANALYZE) {Person._meta.db_table}")
            cur.execute("ANALYZE")

    step(vacuum_s=timed(vacuum)[1])
    step(
        persons=Person.objects.count(),
        contacts_stored=Contact.objects.count(),
        sizes=_table_sizes(),
    )
    province = Area.objects.get(level=1)
    county = Area.objects.get(code=county_code)
    _timed_reads(province, county, step, truth)
    # The encrypting path: reload the audited county with per-row Fernet tokens.
    gen = generate_part(payload["quick"], county_code, SEED + 1000, str(work / "enc"), "-")
    info = _load_part(gen, county_code, encrypt=True)
    step(encrypted_county={"area": county_code, "persons": info["person_rows"], **info})
    return out


def sqlite_child(payload: dict[str, Any]) -> dict[str, Any]:
    """SQLite: one county of the same (scaled) province, and the same reads on it."""
    out, step, _region, county_code = _child_start(payload)
    from ruralwatch.areas.models import Area
    from ruralwatch.keygroups.models import Person

    gen = generate_part(
        payload["quick"],
        county_code,
        SEED,
        str(Path(payload["progress"]).parent / "lite"),
        county_code[:6],
    )
    info = _load_part(gen, county_code, encrypt=False)
    truth = set(gen["truth"])
    step(chunks=[{"area": county_code, **info}], load_totals=info)
    step(persons=Person.objects.count())
    county = Area.objects.get(code=county_code)
    _timed_reads(county, county, step, truth)
    return out


# --------------------------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------------------------


def _fresh_db() -> dict[str, str]:
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
        subprocess.run([*base, "-qc", sql], check=True, capture_output=True)
    env = postgres_env()
    env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DB}"
    return env


def _drop_db() -> None:
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"]
    subprocess.run(
        [*base, "-qc", f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"],
        check=False,
        capture_output=True,
    )


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    (region, factor), region_s = timed(lambda: scaled_region(quick))
    areas_path = workdir / "areas.csv"
    region.areas.select(AREA_COLUMNS).write_csv(areas_path)
    kg = region.keygroups.filter(pl.col("group").is_in(PERSON_GROUPS))
    synth = {
        "scale": region.scale,
        "villages": int(region.areas.filter(pl.col("level") == 5).height),
        "counties": int(region.areas.filter(pl.col("level") == 3).height),
        "prefectures": int(region.areas.filter(pl.col("level") == 2).height),
        "factor": factor,
        "planned_persons": int(kg["count"].sum()),
        "region_s": region_s,
        "on": ON.isoformat(),
    }
    rows = []
    for database in ("PostgreSQL", "SQLite"):
        progress = workdir / f"progress-{database}.json"
        if database == "PostgreSQL":
            env, target = _fresh_db(), "bench.keygroups:pg_child"
        else:
            env, target = sqlite_env(workdir / "sqlite"), "bench.keygroups:sqlite_child"
        payload = {"quick": quick, "areas": str(areas_path), "progress": str(progress)}
        try:
            out = run_child(target, payload, env=env, workdir=workdir, timeout=STEP_TIMEOUT_S)
        except RuntimeError as exc:
            log(f"keygroups on {database} failed: {exc}")
            out = {"failed": str(exc)}
        if ("timed_out" in out or "failed" in out) and progress.exists():
            out.update(json.loads(progress.read_text(encoding="utf-8")))
        if database == "PostgreSQL":
            _drop_db()  # ~10 GB: do not leave it behind
        log(f"keygroups on {database}: persons {out.get('persons')}, rss {out.get('peak_rss_mib')}")
        rows.append({"database": database, **out})
    return {
        "synth": synth,
        "targets": TARGETS,
        "history_days": HISTORY_DAYS,
        "repeat": REPEAT,
        "rows": rows,
    }
