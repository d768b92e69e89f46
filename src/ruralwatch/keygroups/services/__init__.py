"""Writes to the key-group registry, one module per responsibility. Set-based wherever the
number of people grows.

- :mod:`.access_log`: :func:`log_access`, :func:`log_list_access` (every read of a person);
- :mod:`.persons` (one person, pages and API): :func:`register_person`, :func:`record_contact`,
  :func:`set_person_status`, :func:`assign_responsible`, :func:`record_referral_outcome`;
- :mod:`.tiers` (many people): :func:`retier`, :func:`escalate_from_contacts`,
  :func:`refresh_last_contact` — each a handful of ``INSERT … SELECT`` / ``UPDATE`` statements;
- :mod:`.indicators`: :func:`write_indicators` (the ``kg_*`` indicators into the report store);
- :mod:`.campaigns`: :func:`create_campaign`, :func:`complete_campaign_village`;
- :mod:`.roster`: :func:`import_roster` (files of persons);
- :mod:`.synthetic`: :func:`load_persons` (synthetic data, benchmarks),
  :func:`delete_persons_under`;
- :mod:`.demo`: :func:`load_demo_keygroups`, :func:`demo_keygroups_summary`.

Every public name is importable from ``ruralwatch.keygroups.services`` as before the split.
"""

from ruralwatch.keygroups.services._common import Progress
from ruralwatch.keygroups.services.access_log import (
    log_access,
    log_list_access,
)
from ruralwatch.keygroups.services.campaigns import (
    complete_campaign_village,
    create_campaign,
)
from ruralwatch.keygroups.services.demo import (
    demo_keygroups_summary,
    load_demo_keygroups,
)
from ruralwatch.keygroups.services.indicators import (
    write_indicators,
)
from ruralwatch.keygroups.services.persons import (
    EARLIEST_BIRTH,
    EARLIEST_REGISTRATION,
    assign_responsible,
    id_number_problems,
    record_contact,
    record_referral_outcome,
    register_person,
    set_person_status,
)
from ruralwatch.keygroups.services.roster import (
    ROSTER_ALIASES,
    ROSTER_STAGE,
    RosterImportSummary,
    crypto_mask,
    import_roster,
)
from ruralwatch.keygroups.services.synthetic import (
    PERSON_STAGE,
    delete_persons_under,
    load_persons,
)
from ruralwatch.keygroups.services.tiers import (
    escalate_from_contacts,
    refresh_last_contact,
    retier,
)

__all__ = [
    "EARLIEST_BIRTH",
    "EARLIEST_REGISTRATION",
    "PERSON_STAGE",
    "ROSTER_ALIASES",
    "ROSTER_STAGE",
    "Progress",
    "RosterImportSummary",
    "assign_responsible",
    "complete_campaign_village",
    "create_campaign",
    "crypto_mask",
    "delete_persons_under",
    "demo_keygroups_summary",
    "escalate_from_contacts",
    "id_number_problems",
    "import_roster",
    "load_demo_keygroups",
    "load_persons",
    "log_access",
    "log_list_access",
    "record_contact",
    "record_referral_outcome",
    "refresh_last_contact",
    "register_person",
    "retier",
    "set_person_status",
    "write_indicators",
]
