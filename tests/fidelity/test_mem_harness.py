"""The MEM family of ``make fidelity`` without R: absent R mem is said, not passed over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.fidelity import __main__ as runner
from bench.fidelity import cases, memcases
from bench.fidelity.ours import run_ours

from ruralwatch.epi.assess.mem import MemError


@pytest.fixture
def no_r_mem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(memcases.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setattr(memcases, "DEFAULT_LIB", tmp_path / "r-lib")
    memcases.mem_status.cache_clear()
    yield
    memcases.mem_status.cache_clear()


@pytest.mark.usefixtures("no_r_mem")
def test_absent_r_mem_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok, what = memcases.mem_status()
    assert not ok and "R package mem not found" in what and memcases.ENV_VAR in what
    code = runner.main(["--only", "mem", "--n", "1", "--seed", "1", "--out", str(tmp_path)])
    assert code == 2
    assert "R package mem not found" in capsys.readouterr().err


@pytest.mark.parametrize("family", memcases.FAMILIES)
def test_generated_mem_cases_run_on_our_side(family: str) -> None:
    """Every generated case gives our outputs or a clear MemError (R's refusals)."""
    ran = 0
    want = memcases.SCALARS if family == "mem" else memcases.EVOLUTION_COLUMNS
    for case in cases.generate(family, 7, 25):
        try:
            cols = run_ours(case)
        except MemError:
            continue
        ran += 1
        assert set(want) <= set(cols)
        assert len({len(v) for v in cols.values()}) == 1  # one padded table, as R writes it
    assert ran >= 15
