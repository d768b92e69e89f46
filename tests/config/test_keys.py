"""``ruralwatch keys rotate``: the documented MultiFernet rotation re-encrypts every personal
field with the new key, keeps every value readable throughout, and can drop the old key after;
``--rehash`` recomputes the ID-number hashes under a new hash key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from typer.testing import CliRunner

from ruralwatch.areas.models import Area
from ruralwatch.cli import app
from ruralwatch.config.keys import encrypted_fields
from ruralwatch.keygroups import crypto, services
from ruralwatch.keygroups.models import Person
from tests.api.conftest import id_number
from tests.dashboard import data

runner = CliRunner()
ID = id_number(dt.date(1940, 3, 1), 11)


@pytest.fixture
def person(db: None, tmp_path: Path, settings) -> Person:  # type: ignore[no-untyped-def]
    settings.RURALWATCH_FIELD_KEY = Fernet.generate_key().decode()
    data.build_tree(tmp_path)
    return services.register_person(
        name="王大爷",
        sex="M",
        birth_date=dt.date(1940, 3, 1),
        id_number=ID,
        village=Area.objects.get(code=data.A1),
        groups=["age65"],
        phone="13800000000",
        registered_on=dt.date(2023, 1, 1),
    )


def _tokens(person: Person) -> dict[str, str]:
    (_model, enc, _h) = next(e for e in encrypted_fields() if e[0] is Person)
    row = Person.objects.values(*enc).get(pk=person.pk)
    return {k: v for k, v in row.items() if v}


def test_every_encrypted_field_is_found() -> None:
    found = {m.__name__: (enc, hashes) for m, enc, hashes in encrypted_fields()}
    enc, hashes = found["Person"]
    assert {"id_enc", "phone_enc", "guardian_phone_enc"} <= set(enc)
    assert hashes == ["id_hash"]


def test_rotation_moves_every_value_to_the_new_key(person: Person, settings) -> None:  # type: ignore[no-untyped-def]
    old = settings.RURALWATCH_FIELD_KEY
    before = _tokens(person)
    assert {"id_enc", "phone_enc"} <= set(before)
    new = Fernet.generate_key().decode()
    settings.RURALWATCH_FIELD_KEY = f"{new},{old}"  # step 1: new key first, old still decrypts
    assert crypto.decrypt(before["phone_enc"]) == "13800000000"
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "keygroups.Person.phone_enc: 1 re-encrypted" in result.output
    assert "values still under an old key: 0" in result.output
    after = _tokens(person)
    for token in after.values():
        Fernet(new.encode()).decrypt(token.encode())  # under the new key …
        with pytest.raises(InvalidToken):
            Fernet(old.encode()).decrypt(token.encode())  # … and no longer the old one
    settings.RURALWATCH_FIELD_KEY = new  # step 3: the old key removed, everything reads
    assert crypto.decrypt(after["phone_enc"]) == "13800000000"
    assert crypto.decrypt(after["id_enc"]) == ID
    again = runner.invoke(app, ["keys", "rotate"])  # re-runnable: nothing left to do
    assert again.exit_code == 0 and "re-encrypted" not in again.output


def test_rehash_follows_a_new_hash_key(person: Person, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RURALWATCH_HASH_KEY = "a-new-hash-key-of-at-least-32-characters"
    assert Person.objects.get(pk=person.pk).id_hash != crypto.keyed_hash(ID)
    result = runner.invoke(app, ["keys", "rotate", "--rehash"])
    assert result.exit_code == 0, result.output
    assert "keygroups.Person.id_hash: 1 re-hashed" in result.output
    assert Person.objects.get(pk=person.pk).id_hash == crypto.keyed_hash(ID)


def test_a_token_no_key_opens_is_reported_and_kept(person: Person, settings) -> None:  # type: ignore[no-untyped-def]
    stranger = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    Person.objects.filter(pk=person.pk).update(phone_enc=stranger)
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 1
    assert "keygroups.Person.phone_enc: 1 unreadable" in result.output
    assert Person.objects.get(pk=person.pk).phone_enc == stranger


def test_generate_prints_usable_secrets(tmp_path: Path) -> None:
    from ruralwatch.config.env import read_env_file_text, resolve_secrets

    result = runner.invoke(app, ["keys", "generate"])
    values = read_env_file_text(result.output)
    assert resolve_secrets(development=False, var_dir=tmp_path, environ=values) == values
