"""Model fields shared by the apps.

:class:`CodeField` holds a code that is compared byte by byte: an area's statistical code, its
materialized path and ancestors' codes, an indicator's code, a judgement's phase. On PostgreSQL
the column is declared ``COLLATE "C"``. A database created in a ``*.UTF-8`` locale (Debian's
default: ``C.UTF-8``, ``zh_CN.UTF-8``, ``en_US.UTF-8``) compares every other string through the C
library's ``strcoll``, and PostgreSQL 15 does not treat ``C.UTF-8`` as the C collation, so
every comparison of two codes in an index, a sort or a merge join goes through it. Measured on
this project's machine (PostgreSQL 15, a million random 12-digit codes, docs/national-scale.md,
session 33): a sort took 2.3–2.6 s in ``C.UTF-8`` and 0.68 s in ``C``; an index build 2.8 s and
0.53 s. Codes are ASCII (area codes digits only), and byte order is the order ``C.UTF-8``
gives them, so on such a database no page or query changes what it shows (in a language's
locale, ``en_US.UTF-8``, an indicator code's ``_`` may sort elsewhere: nothing shown is
ordered by it but the indicators' own list). A code column's ``LIKE 'prefix%'`` can also use
its plain index.

A foreign key takes the collation of the field it points to (Django's ``ForeignKey``), so the
code columns of every fact table follow :class:`~ruralwatch.areas.models.Area` and
:class:`~ruralwatch.reporting.models.Indicator`. SQLite has no collation named ``C`` (its
default, ``BINARY``, already compares bytes), so the field declares none there.
"""

from __future__ import annotations

from typing import Any

from django.db import models

#: PostgreSQL's byte-order collation.
BYTE_ORDER = "C"


class CodeField(models.CharField):  # type: ignore[type-arg]
    """A ``CharField`` whose values are codes: ``COLLATE "C"`` on PostgreSQL (module doc)."""

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params: dict[str, Any] = super().db_parameters(connection)
        if connection.vendor == "postgresql" and not self.db_collation:
            params["collation"] = BYTE_ORDER
        return params
