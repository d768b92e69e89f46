"""Fixtures: the small tree and users of ``tests/dispatch/conftest.py`` (two counties), and
helpers that read a PDF with poppler (pdftotext, pdfinfo, pdffonts, pdftoppm)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dispatch.conftest import tree, users  # noqa: F401 (fixtures)

POPPLER = ("pdftotext", "pdfinfo", "pdffonts", "pdftoppm")


@pytest.fixture(autouse=True)
def _archive(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Each test archives its briefings in its own directory."""
    settings.RURALWATCH_BRIEFINGS_DIR = tmp_path / "briefings"
    return tmp_path / "briefings"


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is needed (scripts/ensure-system.sh test installs poppler-utils)"
    return found


def pdf_text(path: Path) -> str:
    return subprocess.run(
        [_tool("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def pdf_pages(path: Path) -> int:
    info = subprocess.run(
        [_tool("pdfinfo"), str(path)], capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in info.splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


def pdf_fonts(path: Path) -> list[dict[str, str]]:
    """pdffonts' rows: name, type, emb (yes/no), sub (yes/no)."""
    lines = subprocess.run(
        [_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    rows = []
    for line in lines:
        parts = line.split()
        # name, then the type (several words), encoding, emb, sub, uni, object, id
        rows.append({"name": parts[0], "emb": parts[-5], "sub": parts[-4]})
    return rows


def pdf_page_png(path: Path, out: Path, page: int = 1, dpi: int = 60) -> Path:
    """Page ``page`` as a PNG (pdftoppm)."""
    stem = out.with_suffix("")
    subprocess.run(
        [
            _tool("pdftoppm"),
            "-png",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(path),
            str(stem),
        ],
        check=True,
    )
    return stem.with_suffix(".png")
