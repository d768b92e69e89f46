"""The benchmark report (bench/report.py): each run names its machine, and a section whose
result is absent is carried over from the earlier report rather than blanked."""

from __future__ import annotations

from typing import Any

from bench import report

MACHINE = {
    "cpu": "Test CPU 9000",
    "cores": 2,
    "memory_gib": 23.5,
    "os": "Linux",
    "python": "3.11.7",
    "numpy": "2",
    "numpy_blas": "openblas",
    "scipy": "1",
    "polars": "2",
    "django": "5",
    "postgresql": "15",
    "openblas_coretype": "Haswell",
}


def _run(**extra: Any) -> dict[str, Any]:
    return {"finished": "2026-12-06 11:00:00 +0000", "wall_s": 12.0, **extra}


def test_a_run_line_names_the_processor_it_ran_on() -> None:
    line = report._run_line(_run(machine=MACHINE))
    assert "Machine: Test CPU 9000, 2 cores, `OPENBLAS_CORETYPE=Haswell`." in line
    assert "Machine:" not in report._run_line(_run())


def test_a_section_without_a_result_is_carried_over_with_its_own_run_line() -> None:
    earlier = "\n".join(
        [
            "# Benchmarks",
            "",
            report.TITLES["rt"],
            "",
            "Rt table from an earlier machine.",
            "Run finished 2026-01-01 00:00:00 +0000, 3.0 s wall time.",
            "",
        ]
    )
    text = report.render({}, earlier)
    assert "Rt table from an earlier machine." in text
    assert text.count(report.NOT_MEASURED) == len(report.TITLES) - 1
