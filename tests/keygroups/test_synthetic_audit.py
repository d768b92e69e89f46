"""Synthetic persons loaded set-based; the audit finds every injected problem."""

from __future__ import annotations

from collections import Counter

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.keygroups.models import Contact, Person, Referral
from ruralwatch.keygroups.selectors import AUDIT_KINDS, audit
from ruralwatch.keygroups.services import load_persons
from ruralwatch.synth.persons import PERSON_TRUTH_KINDS, build_persons
from ruralwatch.synth.region import Region
from tests.keygroups.conftest import ON, SEED, as_ids, smallest_township

RATES = {
    "no_doctor": 0.02,
    "no_cadre": 0.02,
    "stale_deceased": 0.01,
    "stale_moved": 0.01,
    "duplicate": 0.01,
    "contact_gap": 0.03,
    "unregistered_village": 0.5,
}


@pytest.fixture
def loaded(tree: Region):
    code = smallest_township(tree)
    people = build_persons(tree, SEED, on=ON, within=code, rates=RATES)
    root = Area.objects.get(code=code)
    counts = load_persons(people, root)
    return root, people, counts


def test_audit_recall_and_precision(loaded) -> None:
    root, people, counts = loaded
    assert counts["persons"] == people.persons.height == Person.objects.count()
    assert Contact.objects.count() == people.contacts.height
    assert Referral.objects.count() == people.referrals.height
    assert counts["referrals_created"] == 0  # every escalation already has its referral
    truth = as_ids(people.truth)
    kinds = Counter(t["kind"] for t in people.truth)
    for kind in PERSON_TRUTH_KINDS:
        assert kinds[kind] > 0, kind
    found = as_ids(audit(root, ON))
    missed = truth - found
    extra = found - truth
    assert not missed, sorted(missed)[:10]
    precision = len(found & truth) / len(found)
    print(f"recall 1.0, precision {precision:.4f}, findings {len(found)}")
    assert precision == 1.0, sorted(extra)[:10]
    assert set(AUDIT_KINDS) == set(PERSON_TRUTH_KINDS)


def test_reload_is_idempotent(loaded, tree: Region) -> None:
    root, people, _ = loaded
    before = sorted(Person.objects.values_list("ref", "tier", "last_contact", "doctor__code"))
    load_persons(people, root)
    after = sorted(Person.objects.values_list("ref", "tier", "last_contact", "doctor__code"))
    assert before == after
