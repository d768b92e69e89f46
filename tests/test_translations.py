"""Every user-facing string has its zh-Hans translation, and the compiled catalogs are current."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.shared import REPO

CATALOGS = sorted((REPO / "src" / "ruralwatch").rglob("locale/zh_Hans/LC_MESSAGES/django.po"))


def _entries(po: Path) -> list[tuple[str, str, bool]]:
    """(msgid, first msgstr, fuzzy) of every entry but the header."""
    out = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        msgid = re.search(r'^msgid "(.*)"((?:\n".*")*)', block, re.M)
        if not msgid or block.lstrip().startswith("#~"):
            continue
        text = msgid.group(1) + "".join(re.findall(r'"(.*)"', msgid.group(2)))
        if not text:
            continue  # header
        strs = re.findall(r'^msgstr(?:\[0\])? "(.*)"((?:\n".*")*)', block, re.M)
        first = strs[0][0] + "".join(re.findall(r'"(.*)"', strs[0][1])) if strs else ""
        out.append((text, first, "#, fuzzy" in block or ", fuzzy" in block))
    return out


def test_there_are_catalogs() -> None:
    assert CATALOGS, "no zh_Hans catalogs found"


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_string_is_translated(po: Path) -> None:
    missing = [m for m, s, fuzzy in _entries(po) if not s or fuzzy]
    assert not missing, f"{len(missing)} untranslated or fuzzy: {missing[:10]}"


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: str(p.relative_to(REPO)))
def test_compiled_catalog_is_current(po: Path, tmp_path: Path) -> None:
    assert shutil.which("msgfmt"), "gettext's msgfmt is needed (make test installs it)"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "-o", str(fresh), str(po)], check=True)
    assert po.with_suffix(".mo").read_bytes() == fresh.read_bytes(), "run make messages"
