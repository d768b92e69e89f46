"""The roster importer: a file of persons (CSV/XLSX), checked as a whole and upserted
all-or-nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, ImportSummary, Problem
from ruralwatch.core.tabular import (
    ROW,
    canonical_columns,
    date_span_problems,
    file_sha256,
    length_problems,
    max_length,
    parse_date,
    problems_where,
    read_table,
)
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    KeyGroup,
    Person,
    Responsible,
    RosterImport,
)
from ruralwatch.keygroups.services._common import (
    PERSON_COLUMNS,
    RESP,
    M,
    P,
    Progress,
    mask_expr,
    now_db,
)
from ruralwatch.keygroups.services.persons import EARLIEST_BIRTH, EARLIEST_REGISTRATION
from ruralwatch.keygroups.services.tiers import retier

ROSTER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字"),
    "sex": ("性别", "gender"),
    "birth_date": ("出生日期", "出生年月日", "生日", "birth"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "证件号码", "id", "id_no"),
    "phone": ("联系电话", "电话", "手机", "手机号", "手机号码"),
    "village": ("村代码", "所在村", "村", "村名", "村（居）", "区划代码", "village_code"),
    "household": ("户号", "家庭住址", "住址", "地址", "address"),
    "groups": ("重点人群类别", "人群类别", "重点人群", "类别", "group", "key_groups"),
    "doctor": ("责任医生", "签约医生", "村医", "responsible_doctor"),
    "cadre": ("包保干部", "包保责任人", "联系干部", "pairing_cadre"),
    "guardian_name": ("监护人", "监护人姓名", "guardian"),
    "guardian_relation": ("与监护人关系", "监护关系", "relation"),
    "guardian_phone": ("监护人电话", "监护人联系电话"),
    "comorbidity": ("基础疾病", "基础病", "合并症"),
    "vaccination": ("疫苗接种", "疫苗接种情况", "接种情况", "vaccinated"),
    "status": ("状态", "人员状态"),
    "registered_on": ("登记日期", "摸排日期", "registered"),
}
_SEX = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F", "1": "M", "2": "F"}
_COMORB = {
    "无": 0,
    "none": 0,
    "0": 0,
    "稳定": 1,
    "stable": 1,
    "1": 1,
    "不稳定": 2,
    "unstable": 2,
    "2": 2,
    "有": 1,
}
_VACC = {
    "全程": 0,
    "已全程": 0,
    "加强": 0,
    "complete": 0,
    "0": 0,
    "未全程": 1,
    "部分": 1,
    "incomplete": 1,
    "1": 1,
    "未接种": 2,
    "无": 2,
    "none": 2,
    "2": 2,
}
_STATUS = {
    "在册": "active",
    "正常": "active",
    "active": "active",
    "迁出": "moved",
    "外出": "moved",
    "moved": "moved",
    "死亡": "deceased",
    "已故": "deceased",
    "deceased": "deceased",
}

ROSTER_STAGE = [
    ("row_no", "bigint"),
    *PERSON_COLUMNS,
    ("status", "varchar(10)"),
    ("registered_on", "date"),
]


@dataclass
class RosterImportSummary(ImportSummary):
    inserted: int = 0
    memberships_added: int = 0
    responsible_created: int = 0
    villages: list[str] = field(default_factory=list)


def _group_lookup() -> tuple[dict[str, str], set[str]]:
    lookup: dict[str, str] = {}
    guardian: set[str] = set()
    for code, zh, en, aliases, needs in KeyGroup.objects.values_list(
        "code", "name_zh", "name_en", "aliases", "needs_guardian"
    ):
        for key in (code, zh, en, *aliases.split(",")):
            if key.strip():
                lookup[key.strip().lower()] = code
        if needs:
            guardian.add(code)
    return lookup, guardian


def _village_lookup(values: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """Village text → code: 12-digit codes of level-5 areas, or unique village names."""
    codes = [v for v in values if v.isdigit()]
    names = [v for v in values if not v.isdigit()]
    found: dict[str, str] = {}
    ambiguous: dict[str, int] = {}
    for start in range(0, len(codes), 900):
        for code in Area.objects.filter(code__in=codes[start : start + 900], level=5).values_list(
            "code", flat=True
        ):
            found[code] = code
    for start in range(0, len(names), 900):
        by_name: dict[str, list[str]] = {}
        for code, name in Area.objects.filter(
            name__in=names[start : start + 900], level=5
        ).values_list("code", "name"):
            by_name.setdefault(name, []).append(code)
        for name, cs in by_name.items():
            if len(cs) == 1:
                found[name] = cs[0]
            else:
                ambiguous[name] = len(cs)
    return found, ambiguous


_ROSTER_TEXTS = ("name", "household", "guardian_name", "guardian_relation")


def crypto_mask(id_number: pl.Expr) -> pl.Expr:
    """An ID number as it may appear in an error message: masked like the stored mask."""
    return (
        pl.when(id_number.str.len_chars() == 18)
        .then(mask_expr(id_number))
        .otherwise(pl.lit("*" * 6))
    )


def _text(col: str) -> pl.Expr:
    return pl.col(col).fill_null("")


def _parse_roster(
    frame: pl.DataFrame, file: str, today: dt.date
) -> tuple[pl.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    for col in ROSTER_ALIASES:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(col))
    frame = frame.with_columns(
        pl.col("id_number").str.to_uppercase().str.replace_all(r"\s", ""),
        pl.col("sex").str.to_lowercase().replace_strict(_SEX, default=None).alias("sex_code"),
        pl.col("comorbidity")
        .str.to_lowercase()
        .replace_strict(_COMORB, default=None)
        .cast(pl.Int16)
        .alias("comorb"),
        pl.col("vaccination")
        .str.to_lowercase()
        .replace_strict(_VACC, default=None)
        .cast(pl.Int16)
        .alias("vacc"),
        pl.col("status")
        .str.to_lowercase()
        .replace_strict(_STATUS, default=None)
        .alias("status_code"),
    )
    ids = frame["id_number"].fill_null("").to_list()
    ok = [crypto.id_number_ok(v) for v in ids]
    frame = frame.with_columns(pl.Series("id_ok", ok, dtype=pl.Boolean))
    birth = parse_date(pl.col("birth_date").str.replace_all(r"[年月]", "-").str.replace("日$", ""))
    id_birth = parse_date(pl.col("id_number").str.slice(6, 8))
    frame = frame.with_columns(
        birth.alias("birth_parsed"),
        pl.when(pl.col("id_ok")).then(id_birth).alias("id_birth"),
        pl.when(pl.col("id_ok"))
        .then(
            pl.when(pl.col("id_number").str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1)
            .then(pl.lit("M"))
            .otherwise(pl.lit("F"))
        )
        .alias("id_sex"),
        parse_date(pl.col("registered_on")).alias("reg_parsed"),
    )
    problems += problems_where(frame, pl.col("name").is_null(), file, "name", _("name is empty"))
    problems += problems_where(
        frame, pl.col("id_number").is_null(), file, "id_number", _("resident ID number is empty")
    )
    problems += problems_where(
        frame,
        pl.col("id_number").is_not_null() & ~pl.col("id_ok"),
        file,
        "id_number",
        pl.format(
            _("invalid resident ID number {} (18 characters with a correct check digit)"),
            crypto_mask(pl.col("id_number")),
        ),
    )
    problems += problems_where(
        frame,
        pl.col("id_ok") & pl.col("id_birth").is_null(),
        file,
        "id_number",
        pl.format(
            _("the birth date {} written in the resident ID number is not a calendar date"),
            pl.col("id_number").str.slice(6, 8),
        ),
    )
    problems += date_span_problems(frame, "id_birth", file, "id_number", EARLIEST_BIRTH, today)
    problems += problems_where(
        frame,
        pl.col("sex").is_not_null() & pl.col("sex_code").is_null(),
        file,
        "sex",
        pl.format(_("unknown sex {} (男/女)"), pl.col("sex")),
    )
    problems += problems_where(
        frame,
        pl.col("sex_code").is_not_null()
        & pl.col("id_sex").is_not_null()
        & (pl.col("sex_code") != pl.col("id_sex")),
        file,
        "sex",
        _("sex does not match the ID number"),
    )
    problems += problems_where(
        frame,
        pl.col("birth_date").is_not_null() & pl.col("birth_parsed").is_null(),
        file,
        "birth_date",
        pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("birth_date")),
    )
    problems += problems_where(
        frame,
        pl.col("birth_parsed").is_not_null()
        & pl.col("id_birth").is_not_null()
        & (pl.col("birth_parsed") != pl.col("id_birth")),
        file,
        "birth_date",
        _("date of birth does not match the ID number"),
    )
    problems += date_span_problems(frame, "birth_parsed", file, "birth_date", EARLIEST_BIRTH, today)
    for col in ("phone", "guardian_phone"):
        ok = [crypto.phone_ok(v) if v is not None else True for v in frame[col].to_list()]
        problems += problems_where(
            frame.with_columns(pl.Series("__phone_ok__", ok, dtype=pl.Boolean)),
            ~pl.col("__phone_ok__"),
            file,
            col,
            pl.format(
                _("not a phone number: {} (7 to 15 digits, optionally + and dashes)"),
                pl.col(col).str.slice(0, 40),
            ),
        )
    for col, mapped, hint in (
        ("comorbidity", "comorb", "无/稳定/不稳定"),
        ("vaccination", "vacc", "全程/未全程/未接种"),
        ("status", "status_code", "在册/迁出/死亡"),
    ):
        problems += problems_where(
            frame,
            pl.col(col).is_not_null() & pl.col(mapped).is_null(),
            file,
            col,
            pl.format(_("unknown value {} (use {})"), pl.col(col), pl.lit(hint)),
        )
    problems += problems_where(
        frame,
        pl.col("registered_on").is_not_null() & pl.col("reg_parsed").is_null(),
        file,
        "registered_on",
        pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("registered_on")),
    )
    problems += date_span_problems(
        frame, "reg_parsed", file, "registered_on", EARLIEST_REGISTRATION, today
    )
    problems += problems_where(
        frame,
        pl.col("reg_parsed") < pl.coalesce("birth_parsed", "id_birth"),
        file,
        "registered_on",
        pl.format(
            _("registered on {}, before the date of birth {}"),
            pl.col("reg_parsed").cast(pl.String),
            pl.coalesce("birth_parsed", "id_birth").cast(pl.String),
        ),
    )
    problems += length_problems(
        frame,
        file,
        {
            **{c: max_length(Person, c) for c in _ROSTER_TEXTS},
            "doctor": max_length(Responsible, "name"),
            "cadre": max_length(Responsible, "name"),
        },
    )
    problems += problems_where(
        frame, pl.col("village").is_null(), file, "village", _("village is empty")
    )
    problems += problems_where(
        frame, pl.col("groups").is_null(), file, "groups", _("key-group category is empty")
    )
    return frame, problems


def import_roster(
    path: str | Path, *, today: dt.date | None = None, progress: Progress | None = None
) -> RosterImportSummary:
    """Import a roster of key-group persons from CSV/XLSX with Chinese or English headers.

    All-or-nothing: every problem (bad ID check digit, unknown village, duplicate ID in the
    file, unknown group, missing guardian …) is reported with file, row, column and reason,
    and nothing is written. Idempotent: a person is keyed by (keyed hash of the ID number,
    village); re-importing the same file changes nothing. A person registered in another
    village is added again (the audit reports the duplicate). Doctors and cadres named in
    the file are matched by code or by name inside the village, and created if missing.
    """
    today = today or timezone.localdate()
    file = Path(path).name
    frame = read_table(path)
    frame = canonical_columns(
        frame, ROSTER_ALIASES, ["name", "id_number", "village", "groups"], file
    )
    frame, problems = _parse_roster(frame, file, today)
    # Villages.
    vtexts = sorted(set(frame["village"].drop_nulls().to_list()))
    vmap, ambiguous = _village_lookup(vtexts)
    frame = frame.with_columns(
        pl.col("village").replace_strict(vmap, default=None).alias("village_code")
    )
    problems += problems_where(
        frame,
        pl.col("village").is_not_null()
        & pl.col("village_code").is_null()
        & ~pl.col("village").is_in(list(ambiguous)),
        file,
        "village",
        pl.format(_("unknown village {} (a village code or name)"), pl.col("village")),
    )
    problems += problems_where(
        frame,
        pl.col("village").is_in(list(ambiguous)),
        file,
        "village",
        pl.format(_("village name {} is not unique: use the village code"), pl.col("village")),
    )
    # Groups.
    glookup, guardian_groups = _group_lookup()
    groups = (
        frame.select(ROW, "groups")
        .with_columns(pl.col("groups").str.replace_all(r"[、，,;；/|]", ",").str.split(","))
        .explode("groups")
        .with_columns(pl.col("groups").str.strip_chars())
        .filter(pl.col("groups").is_not_null() & (pl.col("groups") != ""))
        .with_columns(
            pl.col("groups").str.to_lowercase().replace_strict(glookup, default=None).alias("grp")
        )
    )
    problems += problems_where(
        groups,
        pl.col("grp").is_null(),
        file,
        "groups",
        pl.format(_("unknown key group {}"), pl.col("groups")),
    )
    needs = groups.filter(pl.col("grp").is_in(list(guardian_groups)))[ROW].unique().to_list()
    problems += problems_where(
        frame,
        pl.col(ROW).is_in(needs) & pl.col("guardian_name").is_null(),
        file,
        "guardian_name",
        _("a guardian is needed for a child"),
    )
    # Duplicate IDs in the file (same village or not: one person, one row).
    first = pl.col(ROW).min().over("id_number")
    problems += problems_where(
        frame,
        pl.col("id_ok") & (pl.col(ROW) != first),
        file,
        "id_number",
        pl.format(_("duplicate of row {} (same resident ID number)"), first),
    )
    if problems:
        raise ImportRejected(problems)

    key = crypto.hash_key()
    id_list = frame["id_number"].to_list()
    hashes = [crypto.keyed_hash(v, key) for v in id_list]
    frame = frame.with_columns(
        pl.Series("id_hash", hashes, dtype=pl.String),
        pl.coalesce("birth_parsed", "id_birth").cast(pl.String).alias("birth"),
        pl.coalesce("sex_code", "id_sex").alias("sex_final"),
        pl.col("reg_parsed").fill_null(today).cast(pl.String).alias("reg"),
    )
    with transaction.atomic():
        # Concurrent imports of the same rows: the second reads the stored tokens and
        # counts after the first committed.
        bulk.import_lock("roster", P)
        # Keep the stored tokens of unchanged personal fields, so re-imports change nothing.
        existing = _existing_tokens(frame)
        f = crypto.fernet()

        def tokens(col: str, enc_col: str) -> pl.Series:
            out = []
            for h, v, value in zip(
                frame["id_hash"].to_list(),
                frame["village_code"].to_list(),
                frame[col].fill_null("").to_list(),
                strict=True,
            ):
                old = existing.get((h, v), {}).get(enc_col)
                if old is not None and crypto.decrypt(old) == value:
                    out.append(old)
                else:
                    out.append(f.encrypt(value.encode()).decode() if value else "")
            return pl.Series(enc_col, out, dtype=pl.String)

        frame = frame.with_columns(
            tokens("id_number", "id_enc"),
            tokens("phone", "phone_enc"),
            tokens("guardian_phone", "guardian_phone_enc"),
            tokens("birth", "birth_date_enc"),
        )
        frame, created_resp = _resolve_responsible(frame)
        stage = frame.select(
            pl.col(ROW).alias("row_no"),
            (pl.col("village_code") + "-K" + pl.col("id_hash").str.slice(0, 10)).alias("ref"),
            "name",
            pl.col("sex_final").alias("sex"),
            pl.col("birth").str.slice(0, 8).add(pl.lit("01")).alias("birth_month"),
            "birth_date_enc",
            "id_enc",
            "id_hash",
            mask_expr(pl.col("id_number")).alias("id_masked"),
            "phone_enc",
            pl.col("village_code").alias("village"),
            _text("household").alias("household"),
            pl.col("doctor_code").alias("doctor"),
            pl.col("cadre_code").alias("cadre"),
            _text("guardian_name").alias("guardian_name"),
            _text("guardian_relation").alias("guardian_relation"),
            "guardian_phone_enc",
            pl.col("comorb").fill_null(0).alias("comorbidity"),
            pl.col("vacc").fill_null(2).alias("vaccination"),
            pl.col("status_code").fill_null("active").alias("status"),
            pl.col("reg").alias("registered_on"),
        )
        mem = (
            groups.join(frame.select(ROW, "id_hash", "village_code"), on=ROW)
            .select("id_hash", pl.col("village_code").alias("village"), "grp")
            .unique()
        )
        summary = RosterImportSummary(
            file=file,
            rows=stage.height,
            villages=sorted(stage["village"].unique().to_list()),
            responsible_created=created_resp,
        )
        batch = RosterImport.objects.create(source=file, sha256=file_sha256(path))
        _create_responsible(frame)
        bulk.create_staging("stage_kg_roster", ROSTER_STAGE)
        bulk.load_staging(
            "stage_kg_roster",
            stage,
            progress=(lambda n: progress("load", n, stage.height)) if progress else None,
        )
        summary.inserted, summary.updated, summary.unchanged = _upsert_roster(batch.pk, today)
        bulk.create_staging(
            "stage_kg_rmem",
            [("id_hash", "varchar(64)"), ("village", "varchar(12)"), ("grp", "varchar(30)")],
        )
        bulk.load_staging("stage_kg_rmem", mem)
        summary.memberships_added = bulk.execute(
            f"INSERT INTO {M} (person_id, group_id, since) "
            f"SELECT p.id, s.grp, %s FROM stage_kg_rmem s JOIN {P} p "
            f"ON p.id_hash = s.id_hash AND p.village_id = s.village "
            f"WHERE NOT EXISTS (SELECT 1 FROM {M} m WHERE m.person_id = p.id "
            f"AND m.group_id = s.grp)",
            [today.isoformat()],
        )
        bulk.execute(
            f"UPDATE {M} SET until = %s WHERE until IS NULL AND person_id IN "
            f"(SELECT id FROM {P} WHERE batch_id = %s AND status <> 'active')",
            [today.isoformat(), batch.pk],
        )
        retier(today, extra=f" AND batch_id = {int(batch.pk)}")
        batch.rows, batch.inserted, batch.updated, batch.unchanged = (
            summary.rows,
            summary.inserted,
            summary.updated,
            summary.unchanged,
        )
        batch.save(update_fields=["rows", "inserted", "updated", "unchanged"])
        for name in ("stage_kg_roster", "stage_kg_rmem", "stage_kg_newresp"):
            bulk.drop_staging(name)
    return summary


def _existing_tokens(frame: pl.DataFrame) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    hashes = frame["id_hash"].to_list()
    for start in range(0, len(hashes), 900):
        for h, v, i, ph, g, b in Person.objects.filter(
            id_hash__in=hashes[start : start + 900]
        ).values_list(
            "id_hash", "village_id", "id_enc", "phone_enc", "guardian_phone_enc", "birth_date_enc"
        ):
            out[(h, v)] = {
                "id_enc": i,
                "phone_enc": ph,
                "guardian_phone_enc": g,
                "birth_date_enc": b,
            }
    return out


def _resolve_responsible(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Doctor/cadre text → responsible code: an existing code, a name in the village, or a
    new code ``D<village>-<name>`` / ``C<village>-<name>`` (created on import)."""
    villages = frame["village_code"].unique().to_list()
    known: dict[tuple[str, str, str], str] = {}
    codes: set[str] = set()
    for start in range(0, len(villages), 900):
        for code, kind, name, area in Responsible.objects.filter(
            area_id__in=villages[start : start + 900]
        ).values_list("code", "kind", "name", "area_id"):
            known[(kind, area, name)] = code
            codes.add(code)
    new = 0
    out = {}
    for col, kind, prefix in (("doctor", "doctor", "D"), ("cadre", "cadre", "C")):
        values: list[str | None] = []
        for text, village in zip(
            frame[col].to_list(), frame["village_code"].to_list(), strict=True
        ):
            if not text:
                values.append(None)
            elif text in codes:
                values.append(text)
            elif (kind, village, text) in known:
                values.append(known[(kind, village, text)])
            else:
                code = f"{prefix}{village}-{text}"[:60]
                known[(kind, village, text)] = code
                new += 1
                values.append(code)
        out[f"{col}_code"] = pl.Series(values, dtype=pl.String)
    return frame.with_columns(**out), new


def _create_responsible(frame: pl.DataFrame) -> None:
    rows = []
    for col, kind in (("doctor", "doctor"), ("cadre", "cadre")):
        part = frame.filter(pl.col(f"{col}_code").is_not_null()).select(
            pl.col(f"{col}_code").alias("code"),
            pl.lit(kind).alias("kind"),
            pl.col(col).alias("name"),
            pl.col("village_code").alias("area"),
        )
        rows.append(part)
    resp = pl.concat(rows).unique(subset=["code"], keep="first")
    bulk.create_staging(
        "stage_kg_newresp",
        [
            ("code", "varchar(60)"),
            ("kind", "varchar(10)"),
            ("name", "varchar(60)"),
            ("area", "varchar(12)"),
        ],
    )
    bulk.load_staging("stage_kg_newresp", resp)
    bulk.execute(
        f"INSERT INTO {RESP} (code, kind, name, phone_enc, area_id, active) "
        f"SELECT s.code, s.kind, s.name, '', s.area, %s FROM stage_kg_newresp s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {RESP} r WHERE r.code = s.code)",
        [True],
    )


_ROSTER_COLUMNS = (
    "ref",
    "name",
    "sex",
    "birth_month",
    "birth_date_enc",
    "id_enc",
    "id_masked",
    "phone_enc",
    "household",
    "guardian_name",
    "guardian_relation",
    "guardian_phone_enc",
    "comorbidity",
    "vaccination",
    "status",
)


def _upsert_roster(batch_id: int, today: dt.date) -> tuple[int, int, int]:
    join = (
        f"FROM stage_kg_roster s JOIN {P} p ON p.id_hash = s.id_hash AND p.village_id = s.village"
    )
    doctor = f"(SELECT r.id FROM {RESP} r WHERE r.code = s.doctor)"
    cadre = f"(SELECT r.id FROM {RESP} r WHERE r.code = s.cadre)"
    differs = " OR ".join(
        [f"p.{c} <> s.{c}" for c in _ROSTER_COLUMNS if c != "ref"]
        + [
            f"COALESCE(p.doctor_id, 0) <> COALESCE({doctor}, 0)",
            f"COALESCE(p.cadre_id, 0) <> COALESCE({cadre}, 0)",
        ]
    )
    total = bulk.scalar("SELECT COUNT(*) FROM stage_kg_roster")
    existing = bulk.scalar(f"SELECT COUNT(*) {join}")
    changed = bulk.scalar(f"SELECT COUNT(*) {join} WHERE {differs}")
    now = now_db()
    cols = ", ".join(_ROSTER_COLUMNS)
    scols = ", ".join(f"s.{c}" for c in _ROSTER_COLUMNS)
    # Updates first (only rows that differ), then inserts of new keys: both set-based.
    sets = ", ".join(
        f"{c} = (SELECT s.{c} FROM stage_kg_roster s WHERE s.id_hash = {P}.id_hash "
        f"AND s.village = {P}.village_id)"
        for c in _ROSTER_COLUMNS
        if c != "ref"
    )
    match = (
        f"SELECT 1 FROM stage_kg_roster s "
        f"WHERE s.id_hash = {P}.id_hash AND s.village = {P}.village_id"
    )
    bulk.execute(
        f"UPDATE {P} SET {sets}, "
        f"doctor_id = (SELECT {doctor} FROM stage_kg_roster s WHERE s.id_hash = {P}.id_hash "
        f"AND s.village = {P}.village_id), "
        f"cadre_id = (SELECT {cadre} FROM stage_kg_roster s WHERE s.id_hash = {P}.id_hash "
        f"AND s.village = {P}.village_id), "
        f"status_date = CASE WHEN status <> (SELECT s.status FROM stage_kg_roster s WHERE "
        f"s.id_hash = {P}.id_hash AND s.village = {P}.village_id) THEN %s ELSE status_date END, "
        f"batch_id = %s, updated_at = %s "
        f"WHERE EXISTS ({match} AND (" + differs.replace("p.", f"{P}.") + "))",
        [today.isoformat(), batch_id, now],
    )
    bulk.execute(
        f"INSERT INTO {P} ({cols}, id_hash, village_id, doctor_id, cadre_id, tier, tier_reason, "
        f"last_status, registered_on, status_date, batch_id, created_at, updated_at) "
        f"SELECT {scols}, s.id_hash, s.village, {doctor}, {cadre}, 'green', 'score', '', "
        f"s.registered_on, CASE WHEN s.status <> 'active' THEN s.registered_on END, %s, %s, %s "
        f"FROM stage_kg_roster s WHERE NOT EXISTS (SELECT 1 FROM {P} p "
        f"WHERE p.id_hash = s.id_hash AND p.village_id = s.village)",
        [batch_id, now, now],
    )
    return total - existing, changed, existing - changed
