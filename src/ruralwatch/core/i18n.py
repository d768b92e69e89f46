"""The one rule for text stored in two languages (``name_zh`` / ``name_en``, ``text_zh`` /
``text_en`` columns, ``*_zh`` / ``*_en`` keys of evidence): English for a reader whose language
is English, Chinese otherwise (the default). Sentences made by the code go through gettext
instead; this is only for text that arrives as data in both languages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import translation


def is_english(language: str | None = None) -> bool:
    """Whether ``language`` (default: the active language) asks for English."""
    lang = translation.get_language() if language is None else language
    return (lang or "").lower().startswith("en")


def suffix(language: str | None = None) -> str:
    """``"en"`` or ``"zh"``: the suffix of the bilingual column for ``language``."""
    return "en" if is_english(language) else "zh"


def localized(obj: Any, field: str, language: str | None = None) -> str:
    """``obj.<field>_en`` or ``obj.<field>_zh`` for ``language`` (an attribute, or a key of a
    mapping); ``""`` when it is missing."""
    key = f"{field}_{suffix(language)}"
    value = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    return "" if value is None else str(value)
