"""ID-number check digits, encryption at rest, keyed hashes, the tier rule."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.rules import DEFAULT_RULES, RuleError, parse_rules
from ruralwatch.synth.persons import check_char

# Worked example of GB 11643-1999 (the standard's own sample number).
SAMPLE = "11010519491231002X"


def test_check_digit() -> None:
    assert crypto.id_check_char(SAMPLE[:17]) == "X"
    assert crypto.id_number_ok(SAMPLE)
    assert crypto.id_number_ok(SAMPLE.lower())
    assert not crypto.id_number_ok("110105194912310021")
    assert not crypto.id_number_ok("1101051949123100")
    digits = np.array([[int(c) for c in SAMPLE[:17]]], dtype=np.int64)
    assert check_char(digits)[0] == "X"


def test_encrypt_roundtrip_and_hash(settings) -> None:
    token = crypto.encrypt("13800000000")
    assert "13800000000" not in token
    assert crypto.decrypt(token) == "13800000000"
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""
    assert crypto.keyed_hash(SAMPLE) == crypto.keyed_hash(SAMPLE.lower())
    assert crypto.keyed_hash(SAMPLE, b"other") != crypto.keyed_hash(SAMPLE)
    assert crypto.mask_id(SAMPLE) == "110105**********2X"
    assert crypto.mask_name("王小明") == "王**"


def test_key_from_setting(settings) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    settings.RURALWATCH_FIELD_KEY = key
    token = crypto.encrypt("x")
    assert Fernet(key.encode()).decrypt(token.encode()) == b"x"


def test_published_rule() -> None:
    rules = parse_rules(DEFAULT_RULES)
    on = dt.date(2023, 2, 5)
    assert rules.age_score(dt.date(1960, 1, 1), on) == 0
    assert rules.age_score(dt.date(1958, 2, 5), on) == 1  # 65 today
    assert rules.age_score(dt.date(1943, 2, 6), on) == 1  # 79
    assert rules.age_score(dt.date(1943, 2, 5), on) == 2  # 80 today
    assert rules.tier_of(rules.score(dt.date(1950, 1, 1), 0, 0, on)) == "green"
    assert rules.tier_of(rules.score(dt.date(1950, 1, 1), 1, 0, on)) == "yellow"
    assert rules.tier_of(rules.score(dt.date(1940, 1, 1), 1, 1, on)) == "red"
    assert rules.interval_days == {"red": 1, "yellow": 3, "green": 7}
    with pytest.raises(RuleError):
        parse_rules({"interval_days": {"red": 0, "yellow": 3, "green": 7}})
    with pytest.raises(RuleError):
        parse_rules({"yellow_from": 5, "red_from": 4})


@pytest.mark.parametrize("value", ["", "  ", None])
def test_missing_field_key_is_a_clear_error(settings, value) -> None:
    """No key is made up from SECRET_KEY: without RURALWATCH_FIELD_KEY nothing is encrypted."""
    settings.RURALWATCH_FIELD_KEY = value
    with pytest.raises(crypto.MissingKey, match="RURALWATCH_FIELD_KEY is not set"):
        crypto.encrypt("13800000000")
    with pytest.raises(crypto.MissingKey, match="RURALWATCH_FIELD_KEY"):
        crypto.decrypt("gAAAAA-token")
    # The empty value stays empty without needing a key.
    assert crypto.encrypt("") == ""


def test_bad_field_key_is_a_clear_error(settings) -> None:
    settings.RURALWATCH_FIELD_KEY = "not-a-fernet-key"
    with pytest.raises(crypto.MissingKey, match="not a list of Fernet keys"):
        crypto.encrypt("x")


@pytest.mark.parametrize("value", ["", None])
def test_missing_hash_key_is_a_clear_error(settings, value) -> None:
    settings.RURALWATCH_HASH_KEY = value
    with pytest.raises(crypto.MissingKey, match="RURALWATCH_HASH_KEY is not set"):
        crypto.keyed_hash(SAMPLE)
    with pytest.raises(crypto.MissingKey, match="RURALWATCH_HASH_KEY"):
        crypto.pseudonym("ref")
    # An explicit key still works (rotation passes the key it means).
    assert len(crypto.keyed_hash(SAMPLE, b"given")) == 64


def test_missing_key_is_an_improper_configuration() -> None:
    from django.core.exceptions import ImproperlyConfigured

    assert issubclass(crypto.MissingKey, ImproperlyConfigured)
