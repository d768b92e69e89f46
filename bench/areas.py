"""Import of the full 2016 division tree (713,034 units) on SQLite and on PostgreSQL, each into
a freshly migrated database in its own process, then the same file again (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._util import (
    ADMIN_2016,
    django_setup_migrate,
    fresh_postgres_db,
    log,
    postgres_env,
    run_child,
    sqlite_env,
    timed,
)

TARGET_POSTGRES_S = 60.0


def import_child(payload: dict[str, Any]) -> dict[str, Any]:
    migrate_s = django_setup_migrate()
    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import import_areas

    first, import_s = timed(lambda: import_areas(payload["path"]))
    again, reimport_s = timed(lambda: import_areas(payload["path"]))
    return {
        "migrate_s": migrate_s,
        "import_s": import_s,
        "reimport_s": reimport_s,
        "units": Area.objects.count(),
        "first": first.as_dict(),
        "reimport": again.as_dict(),
    }


def _subset(workdir: Path, n: int) -> Path:
    """The first ``n`` rows of the tree (quick runs): a file order keeps parents first."""
    import gzip

    path = workdir / "areas_subset.csv"
    with gzip.open(ADMIN_2016, "rt", encoding="utf-8") as src, path.open("w") as dst:
        for i, line in enumerate(src):
            if i > n:
                break
            dst.write(line)
    return path


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    path = _subset(workdir, 20_000) if quick else ADMIN_2016
    rows = []
    for database in ("SQLite", "PostgreSQL"):
        if database == "SQLite":
            env = sqlite_env(workdir / "sqlite")
        else:
            fresh_postgres_db()
            env = postgres_env()
        out = run_child("bench.areas:import_child", {"path": str(path)}, env=env, workdir=workdir)
        log(
            f"areas on {database}: import {out['import_s']:.1f} s, "
            f"re-import {out['reimport_s']:.1f} s, {out['units']} units"
        )
        rows.append({"database": database, **out})
    return {"file": Path(path).name, "rows": rows, "target_s": TARGET_POSTGRES_S}
