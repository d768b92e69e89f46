"""Judgement evidence with its long repeated texts stored once (issue 15).

Every area's evidence names its methods, rules and sources in full ("Bayesian nowcast of
reporting delays (Höhle & an der Heiden 2014 …)", the phase rules, the serial interval's
sources): the same few texts in every row, about half of each row's 2.3 KB. At national scale
(713,034 areas a day) that is most of a gigabyte a day. The assessment stores each such text
once in :class:`EvidenceText` and writes a short token in its place; :class:`EvidenceField`
puts the texts back when a judgement is read, so every reader sees the evidence whole. A row
written with its texts in full (tests, older rows) reads as it is.

The same for the sections many rows share: most villages are judged on their parent's series,
and their evidence repeats its level, growth rate, phase and R_t (about 1.1 of a row's 1.8 KB).
Those members are stored once per basis, as a text of members (``"level": {…}, "growth": …``),
and the row holds one member in their place, ``"§members": "§json:<key>"``. Besides the space,
a row that stays below PostgreSQL's 2 KB TOAST threshold is not compressed on the way in: on
河南's 53,412 judgements the INSERT's backend time fell from 5.9 to 1.3 s.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from django.db import models

from ruralwatch.core import bulk

TOKEN = "§text:"
#: The member that stands for shared members stored once, and its value's prefix.
MEMBERS = "§members"
JSON_TOKEN = "§json:"
#: Only texts at least this long are worth a token (a token is 23 characters with quotes).
MIN_LENGTH = 40
_TOKEN_RE = re.compile(r'"' + TOKEN + r'([0-9a-f]{16})"')
_MEMBERS_RE = re.compile(r'"' + MEMBERS + r'":\s*"' + JSON_TOKEN + r'([0-9a-f]{16})"')
#: key → text, the rows of EvidenceText this process has read or written. Texts are fetched
#: by key when first needed (the table holds a day's shared members per basis, too many to
#: load whole); the copy is emptied when it grows past KNOWN_LIMIT.
_known: dict[str, str] = {}
KNOWN_LIMIT = 20_000


#: ``json.dumps(obj, ensure_ascii=False)`` without making an encoder for each call (dumps
#: does, for any argument but the defaults: most of the cost of a small object).
to_json = json.JSONEncoder(ensure_ascii=False).encode


def key_of(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def long_texts(objects: Iterable[Any]) -> set[str]:
    """Every string value of at least MIN_LENGTH characters in ``objects`` (nested)."""
    found: set[str] = set()
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if isinstance(obj, str):
            if len(obj) >= MIN_LENGTH:
                found.add(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
    return found


class Packer:
    """Writes JSON with the given texts as tokens (text-level replacement of whole JSON
    strings, so it costs a few ``str.replace`` per row, not a walk of every row)."""

    def __init__(self, texts: Iterable[str]) -> None:
        from ruralwatch.assessments.models import EvidenceText

        self.pairs = [
            (to_json(t), f'"{TOKEN}{key_of(t)}"') for t in sorted(texts, key=len, reverse=True)
        ]
        texts_by_key = {key_of(t): t for t in texts}
        # Written every time (a handful of rows): this process's copy may know a text that a
        # rolled-back transaction or a restored database no longer holds.
        EvidenceText.objects.bulk_create(
            [EvidenceText(key=k, text=t) for k, t in texts_by_key.items()], ignore_conflicts=True
        )
        _remember(texts_by_key)
        #: Shared members by the identities of their values: (the values, kept alive so that
        #: their identities are not reused while this packer lives; the member standing for
        #: them).
        self._shared: dict[tuple[int, ...], tuple[list[Any], str]] = {}
        #: Texts of shared members not yet written (:meth:`save`).
        self._pending: dict[str, str] = {}

    def dumps(self, obj: Any, shared: Collection[str] = ()) -> str:
        """``obj`` as JSON with the texts as tokens.

        ``shared`` names keys of a top-level dict whose values are objects many rows share
        (the evidence of a basis unit, the same for every village pooled on it). Those members
        are stored once (:meth:`save` writes them) and the row holds one ``"§members"``
        member in their place, where the first of them was; a row then costs the JSON of its
        own values only. Rows are told apart by the identities of the shared values, so the
        rows of one basis must hold the very same objects.
        """
        if not shared or type(obj) is not dict:
            return self._packed(to_json(obj))
        own: dict[str, Any] = {}
        values: list[Any] = []
        for k, v in obj.items():
            if k in shared and isinstance(v, dict | list):
                if not values:
                    own[MEMBERS] = None  # the place of the shared members
                values.append((k, v))
            else:
                own[k] = v
        if not values:
            return self._packed(to_json(obj))
        ids = tuple(id(v) for _, v in values)
        found = self._shared.get(ids)
        if found is None:
            # ``"k": v, "k": v`` as one object's JSON without its braces
            members = self._packed(to_json(dict(values))[1:-1])
            key = key_of(members)
            self._pending[key] = members
            found = self._shared[ids] = (values, JSON_TOKEN + key)
        own[MEMBERS] = found[1]
        return self._packed(to_json(own))

    def save(self) -> None:
        """Write the shared members of the rows made so far (before the rows are committed;
        a text already stored is left as it is)."""
        from ruralwatch.assessments.models import EvidenceText

        if not self._pending:
            return
        if bulk.is_postgres():
            # COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING: the
            # ORM's INSERT has the driver quote each text into the statement (河南's 3,906
            # members, 4.3 MB: 0.4 s of this process's CPU, a tenth of that now).
            table = EvidenceText._meta.db_table
            bulk.create_staging("stage_evidence_texts", [("key", "text"), ("text", "text")])
            bulk.insert_rows("stage_evidence_texts", ("key", "text"), list(self._pending.items()))
            bulk.execute(
                f"INSERT INTO {table} (key, text) SELECT key, text FROM stage_evidence_texts "
                f"ON CONFLICT (key) DO NOTHING"
            )
            bulk.drop_staging("stage_evidence_texts")
        else:
            EvidenceText.objects.bulk_create(
                [EvidenceText(key=k, text=t) for k, t in self._pending.items()],
                ignore_conflicts=True,
                batch_size=5000,
            )
        _remember(self._pending)
        self._pending = {}

    def _packed(self, text: str) -> str:
        for whole, token in self.pairs:
            if whole in text:
                text = text.replace(whole, token)
        return text


def _remember(texts: dict[str, str]) -> None:
    if len(_known) + len(texts) > KNOWN_LIMIT:
        _known.clear()
    _known.update(texts)


def stored_texts(keys: Collection[str]) -> dict[str, str]:
    """The texts of ``keys`` that are stored (queries, of a thousand keys each, only for those
    this process lacks)."""
    texts = {k: _known[k] for k in keys if k in _known}
    missing = sorted(k for k in keys if k not in texts)
    if missing:
        from ruralwatch.assessments.models import EvidenceText

        found: dict[str, str] = {}
        for start in range(0, len(missing), 1000):
            found.update(
                EvidenceText.objects.filter(key__in=missing[start : start + 1000]).values_list(
                    "key", "text"
                )
            )
        _remember(found)
        texts |= found
    return texts


def unpack_json(text: str) -> str:
    """``text`` with every token replaced: shared members by their members, then texts by
    their text as a JSON string (unknown tokens stay)."""
    if TOKEN not in text and JSON_TOKEN not in text:
        return text
    if JSON_TOKEN in text:
        members = stored_texts(set(_MEMBERS_RE.findall(text)))

        def spliced(match: re.Match[str]) -> str:
            return members.get(match.group(1), match.group(0))

        text = _MEMBERS_RE.sub(spliced, text)
    if TOKEN not in text:
        return text
    found = stored_texts(set(_TOKEN_RE.findall(text)))

    def whole(match: re.Match[str]) -> str:
        t = found.get(match.group(1))
        return match.group(0) if t is None else to_json(t)

    return _TOKEN_RE.sub(whole, text)


def unpack(obj: Any) -> Any:
    """The same for an already parsed value (a backend that hands over parsed JSON)."""
    if isinstance(obj, str):
        if obj.startswith(TOKEN):
            found = stored_texts([obj[len(TOKEN) :]])
            return found.get(obj[len(TOKEN) :], obj)
        return obj
    if isinstance(obj, dict):
        value = obj.get(MEMBERS)
        if isinstance(value, str) and value.startswith(JSON_TOKEN):
            key = value[len(JSON_TOKEN) :]
            members = stored_texts([key]).get(key)
            if members is not None:
                obj = {
                    **{k: v for k, v in obj.items() if k != MEMBERS},
                    **json.loads("{" + members + "}"),
                }
        return {k: unpack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v) for v in obj]
    return obj


class EvidenceField(models.JSONField):
    """A JSONField whose stored tokens are read back as their texts."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        raw = isinstance(value, str)
        if raw:
            value = unpack_json(value)
        result = super().from_db_value(value, expression, connection)
        # A key read on its own (SQLite hands a string value over without its quotes), or a
        # backend that parsed the JSON itself.
        return unpack(result) if isinstance(result, str) or not raw else result


def referred_keys(evidence: Iterable[str | None]) -> set[str]:
    """The keys of the stored texts that the stored evidence ``evidence`` refers to: its
    texts and shared members, and the texts those members refer to."""
    texts: set[str] = set()
    members: set[str] = set()
    for text in evidence:
        if text:
            texts.update(_TOKEN_RE.findall(text))
            members.update(_MEMBERS_RE.findall(text))
    for text in stored_texts(members).values():  # shared members hold tokens of texts themselves
        texts.update(_TOKEN_RE.findall(text))
    return texts | members


def prune(batch: int = 500) -> int:
    """Delete the stored texts that no judgement refers to, directly or through shared
    members; returns how many went.

    Reads every judgement's stored evidence once (a scan of the table), so it is for rebuilds
    (the demo deletes its region's judgements and judges again), not for the daily cycle.
    Texts that only archived judgements refer to go too: the archive file holds them
    (``assessments.archive``) and a restore puts them back.
    """
    from django.db import connection

    from ruralwatch.assessments.models import EvidenceText, Judgement

    table = Judgement._meta.db_table
    column = Judgement._meta.get_field("evidence").column

    def stored_evidence() -> Iterator[str | None]:
        with connection.cursor() as cur:
            cur.execute(f"SELECT CAST({column} AS TEXT) FROM {table}")
            while rows := cur.fetchmany(5000):
                for (text,) in rows:
                    yield text

    used = referred_keys(stored_evidence())
    unused = sorted(set(EvidenceText.objects.values_list("key", flat=True)) - used)
    for start in range(0, len(unused), batch):
        EvidenceText.objects.filter(key__in=unused[start : start + batch]).delete()
    for key in unused:
        _known.pop(key, None)
    return len(unused)
