"""Validation problems and the all-or-nothing rejection that carries them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.utils.translation import gettext as _


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input: where (file, row, column) and why."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(_("row %(row)d") % {"row": self.row})
        if self.column:
            where.append(_("column %(column)s") % {"column": self.column})
        return f"{', '.join(where)}: {self.reason}"


class ImportRejected(Exception):
    """The whole input was rejected; nothing was written. ``problems`` says why."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or ""))
        super().__init__(_("%(n)d problem(s); nothing was imported") % {"n": len(self.problems)})

    def render(self, limit: int | None = None) -> str:
        shown = self.problems if limit is None else self.problems[:limit]
        lines = [str(p) for p in shown]
        if limit is not None and len(self.problems) > limit:
            lines.append(_("… and %(n)d more") % {"n": len(self.problems) - limit})
        return "\n".join(lines)


@dataclass
class ImportSummary:
    """What an accepted import did: rows read, and stored items new, changed and unchanged.

    Importers extend it with their own counts; ``as_dict`` serialises every field.
    """

    file: str
    rows: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
