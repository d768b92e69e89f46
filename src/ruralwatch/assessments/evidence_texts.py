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

Compact rows (session 18). What is left of a plain unit's row (one judged as its basis's
template says, with no nowcast of its own and no rebound detected) is its own numbers inside
its basis's JSON and its group's sentence: about 1.3 KB, whose evidence PostgreSQL parses into
``jsonb`` on the way in. Such a row stores

* its evidence as a JSON array, ``["§tpl:<key>", v1, v2, …]``: the key of its basis's
  evidence text with a slot for each of its own values (the pieces between the slots joined
  by :data:`SEP`, stored once per basis), then those values;
* each sentence as ``§s:<key>`` + SEP + its cases in 14 days + SEP + its 7-day clause, the key
  naming its group's sentence with those two slots.

:class:`EvidenceField` and :class:`SentenceField` fill the templates when a row is read, so a
reader sees the same evidence and sentences as the whole row would give
(tests/assessments/test_rows.py). On 河南's day the COPY of the rows took 0.44–0.55 s
instead of 0.98–1.43 s, and the table 35 MiB instead of 91 (``docs/national-scale.md``,
session 18). A stored row that SQL must read by key
(``evidence -> 'rebound'``: the dispatch of rebound tasks) keeps its evidence whole.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import polars as pl
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
#: A compact row's evidence (an array whose first item names its template) and sentence.
TEMPLATE = "§tpl:"
SENTENCE = "§s:"
#: Between a template's pieces and a sentence's fillers: a character JSON writes escaped and
#: the phrases never hold, so it occurs in neither but where it was put.
SEP = "\x1f"
#: The characters a compact sentence adds to its fillers: ``§s:``, the key, two separators.
SENTENCE_OVERHEAD = len(SENTENCE) + 16 + 2
_TEMPLATE_START = '["' + TEMPLATE
_TEMPLATE_RE = re.compile(r'\["' + TEMPLATE + r'([0-9a-f]{16})"')
_SENTENCE_RE = re.compile("^" + SENTENCE + "([0-9a-f]{16})" + SEP)
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


def named_twice(owners: pl.Series, compact: pl.Series) -> set[int]:
    """The templates (groups, bases: ``owners``, one per row) that two compact rows or more
    name (``compact``, a boolean per row). A template no row names would be stored for
    nothing, and one a single row names costs an evidence text more than that row written
    whole (on the nation's day 18,235 of 54,318 evidence templates and 26,757 of 63,444
    sentence heads per language)."""
    counts = owners.alias("owner").filter(compact).value_counts(name="n")
    return set(counts.filter(pl.col("n") > 1)["owner"].to_list())


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

    def stored(self, text: str) -> str:
        """The key of ``text``, stored with the shared members (:meth:`save`): a template of
        compact rows."""
        key = key_of(text)
        self._pending[key] = text
        return key

    def template_head(self, pieces: Sequence[str]) -> str | None:
        """A compact row's evidence up to its own values, ``["§tpl:<key>"``, for a template
        whose pieces are ``pieces`` (None when a piece holds :data:`SEP`)."""
        if any(SEP in p for p in pieces):
            return None
        return '["' + TEMPLATE + self.stored(SEP.join(pieces)) + '"'

    def sentence_head(self, pieces: Sequence[str]) -> str | None:
        """A compact sentence up to its fillers, ``§s:<key>`` + SEP, for a group's sentence
        whose pieces are ``pieces`` (None when a piece holds :data:`SEP`, or when the
        pieces are no longer than the head and separators that would stand for them)."""
        if any(SEP in p for p in pieces) or sum(map(len, pieces)) <= SENTENCE_OVERHEAD:
            return None
        return SENTENCE + self.stored(SEP.join(pieces)) + SEP

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
    their text as a JSON string (unknown tokens stay); a compact row's evidence first becomes
    its basis's text with its own values."""
    if text.startswith(_TEMPLATE_START):
        text = filled(text)
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


def filled(text: str) -> str:
    """A compact row's stored evidence (``["§tpl:<key>", v1, …]``) as its template's text
    with each value in its slot, as JSON writes it (unchanged when the template is unknown)."""
    values = json.loads(text)
    key = values[0][len(TEMPLATE) :]
    template = stored_texts([key]).get(key)
    if template is None:
        return text
    pieces = template.split(SEP)
    if len(pieces) != len(values):
        raise ValueError(
            f"evidence template {key} has {len(pieces) - 1} slots, not {len(values) - 1}"
        )
    out = [pieces[0]]
    for value, piece in zip(values[1:], pieces[1:], strict=True):
        out += [to_json(value), piece]
    return "".join(out)


def sentence(text: str) -> str:
    """A stored sentence as it reads: a compact one's group sentence with its fillers in
    their slots (any other, or one whose template is unknown, as it is)."""
    match = _SENTENCE_RE.match(text)
    if match is None:
        return text
    key = match.group(1)
    template = stored_texts([key]).get(key)
    if template is None:
        return text
    pieces = template.split(SEP)
    fillers = text[match.end() :].split(SEP)
    if len(pieces) != len(fillers) + 1:
        raise ValueError(f"sentence template {key} has {len(pieces) - 1} slots, not {len(fillers)}")
    out = [pieces[0]]
    for filler, piece in zip(fillers, pieces[1:], strict=True):
        out += [filler, piece]
    return "".join(out)


def unpack(obj: Any) -> Any:
    """The same for an already parsed value (a backend that hands over parsed JSON)."""
    if isinstance(obj, list) and obj and isinstance(obj[0], str) and obj[0].startswith(TEMPLATE):
        return json.loads(unpack_json(to_json(obj)))
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


class SentenceField(models.TextField):  # type: ignore[type-arg]
    """A TextField whose compact sentences are read back whole (:func:`sentence`)."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return sentence(value) if isinstance(value, str) else value


def _keys_in(text: str) -> set[str]:
    found = set(_TOKEN_RE.findall(text)) | set(_MEMBERS_RE.findall(text))
    found.update(_TEMPLATE_RE.findall(text))
    found.update(_SENTENCE_RE.findall(text))
    return found


def referred_keys(stored: Iterable[str | None]) -> set[str]:
    """The keys of the stored texts that the stored evidence and sentences ``stored`` refer
    to: their texts, shared members and templates, and the texts those refer to in turn
    (a template holds the token of its basis's members, and members tokens of texts)."""
    keys: set[str] = set()
    for text in stored:
        if text:
            keys |= _keys_in(text)
    todo = set(keys)
    while todo:
        found: set[str] = set()
        for text in stored_texts(todo).values():
            found |= _keys_in(text)
        todo = found - keys
        keys |= found
    return keys


def prune(batch: int = 500) -> int:
    """Delete the stored texts that no judgement refers to, directly or through shared
    members and templates; returns how many went.

    Reads every judgement's stored evidence once (a scan of the table), so it is for rebuilds
    (the demo deletes its region's judgements and judges again), not for the daily cycle.
    Texts that only archived judgements refer to go too: the archive file holds them
    (``assessments.archive``) and a restore puts them back.
    """
    from django.db import connection

    from ruralwatch.assessments.models import EvidenceText, Judgement

    table = Judgement._meta.db_table
    columns = ", ".join(
        f"CAST({f.column} AS TEXT)"
        for f in Judgement._meta.concrete_fields
        if f.name in ("evidence", "text_zh", "text_en")
    )

    def stored_evidence() -> Iterator[str | None]:
        with connection.cursor() as cur:
            cur.execute(f"SELECT {columns} FROM {table}")
            while rows := cur.fetchmany(5000):
                for row in rows:
                    yield from row

    used = referred_keys(stored_evidence())
    unused = sorted(set(EvidenceText.objects.values_list("key", flat=True)) - used)
    for start in range(0, len(unused), batch):
        EvidenceText.objects.filter(key__in=unused[start : start + batch]).delete()
    for key in unused:
        _known.pop(key, None)
    return len(unused)
