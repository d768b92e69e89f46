"""Judgement evidence with its long repeated texts stored once (issue 15).

Every area's evidence names its methods, rules and sources in full ("Bayesian nowcast of
reporting delays (Höhle & an der Heiden 2014 …)", the phase rules, the serial interval's
sources): the same few texts in every row, about half of each row's 2.3 KB. At national scale
(713,034 areas a day) that is most of a gigabyte a day. The assessment stores each such text
once in :class:`EvidenceText` and writes a short token in its place; :class:`EvidenceField`
puts the texts back when a judgement is read, so every reader sees the evidence whole. A row
written with its texts in full (tests, older rows) reads as it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable
from typing import Any

from django.db import models

TOKEN = "§text:"
#: Only texts at least this long are worth a token (a token is 23 characters with quotes).
MIN_LENGTH = 40
_TOKEN_RE = re.compile(r'"' + TOKEN + r'([0-9a-f]{16})"')
_known: dict[str, str] = {}  # key → text, this process's copy of EvidenceText


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
            (json.dumps(t, ensure_ascii=False), f'"{TOKEN}{key_of(t)}"')
            for t in sorted(texts, key=len, reverse=True)
        ]
        texts_by_key = {key_of(t): t for t in texts}
        # Written every time (a handful of rows): this process's copy may know a text that a
        # rolled-back transaction or a restored database no longer holds.
        EvidenceText.objects.bulk_create(
            [EvidenceText(key=k, text=t) for k, t in texts_by_key.items()], ignore_conflicts=True
        )
        _known.update(texts_by_key)
        self._shared: dict[tuple[str, int], tuple[Any, str]] = {}

    def dumps(self, obj: Any, shared: Collection[str] = ()) -> str:
        """``obj`` as JSON with the texts as tokens.

        ``shared`` names keys of a top-level dict whose values are objects many rows share
        (the evidence of a basis unit, the same for every village pooled on it): the JSON of
        such an object is made once per object and reused, so a row costs the JSON of its own
        values only. The text is the same as without ``shared``: a dict's JSON is its items'
        JSON joined, and a token replaces a whole JSON string, which never spans two items.
        """
        if not shared or type(obj) is not dict:
            return self._packed(json.dumps(obj, ensure_ascii=False))
        parts: list[str] = []
        run: dict[str, Any] = {}
        for k, v in obj.items():
            if k not in shared or not isinstance(v, dict | list):
                run[k] = v
                continue
            if run:
                parts.append(self._packed(json.dumps(run, ensure_ascii=False))[1:-1])
                run = {}
            # Keyed by the item's key and the object's identity; the object is kept with its
            # JSON so that its identity cannot be reused by another object while this packer
            # lives.
            found = self._shared.get((k, id(v)))
            if found is None:
                item = json.dumps(k, ensure_ascii=False) + ": " + json.dumps(v, ensure_ascii=False)
                found = self._shared[k, id(v)] = (v, self._packed(item))
            parts.append(found[1])
        if run:
            parts.append(self._packed(json.dumps(run, ensure_ascii=False))[1:-1])
        return "{" + ", ".join(parts) + "}"

    def _packed(self, text: str) -> str:
        for whole, token in self.pairs:
            if whole in text:
                text = text.replace(whole, token)
        return text


def _text(key: str) -> str | None:
    if key not in _known:
        from ruralwatch.assessments.models import EvidenceText

        _known.update(EvidenceText.objects.values_list("key", "text"))
    return _known.get(key)


def unpack_json(text: str) -> str:
    """``text`` with every token replaced by its text as a JSON string (unknown tokens stay)."""
    if TOKEN not in text:
        return text

    def whole(match: re.Match[str]) -> str:
        found = _text(match.group(1))
        return match.group(0) if found is None else json.dumps(found, ensure_ascii=False)

    return _TOKEN_RE.sub(whole, text)


def unpack(obj: Any) -> Any:
    """The same for an already parsed value (a backend that hands over parsed JSON)."""
    if isinstance(obj, str):
        if obj.startswith(TOKEN):
            found = _text(obj[len(TOKEN) :])
            return obj if found is None else found
        return obj
    if isinstance(obj, dict):
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
