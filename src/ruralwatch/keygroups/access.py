"""The choke point for person-level reads: scoped to the user's jurisdiction and logged.

Deny by default (see :mod:`ruralwatch.accounts.access`): a person is visible when their
village lies in the user's subtree. A missing person and a person out of scope raise the
same ``Http404``. Every successful fetch of one person's record writes an ``AccessLog`` row;
list reads log one row with the number of persons shown.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import _profile, jurisdiction, lookup_safe, sees_everything
from ruralwatch.keygroups.models import Campaign, Person, Referral, Responsible
from ruralwatch.keygroups.services import log_access

#: Roles whose person-level exports keep names, ID numbers and phones (others get
#: pseudonyms). A setting may override: ``RURALWATCH_KG_IDENTIFIED_EXPORT_ROLES``.
IDENTIFIED_EXPORT_ROLES = ("county",)


def scope_persons(user: Any) -> QuerySet[Person]:
    """Persons whose village is inside the user's jurisdiction (nothing for no access)."""
    if sees_everything(user):
        return Person.objects.all()
    root = jurisdiction(user)
    if root is None:
        return Person.objects.none()
    return Person.objects.filter(village__path__startswith=root.path)


def access_person(user: Any, ref: str, *, purpose: str) -> Person:
    """The person ``ref`` if in scope (logged with ``purpose``); else ``Http404``."""
    if not lookup_safe(ref, Person._meta.get_field("ref").max_length or 0):
        raise Http404(_("No such person."))
    person = (
        scope_persons(user).select_related("village", "doctor", "cadre").filter(ref=ref).first()
    )
    if person is None:
        raise Http404(_("No such person."))
    log_access(user, [person.pk], purpose, area_code=person.village_id)
    return person


def scope_responsible(user: Any) -> QuerySet[Responsible]:
    if sees_everything(user):
        return Responsible.objects.all()
    root = jurisdiction(user)
    if root is None:
        return Responsible.objects.none()
    return Responsible.objects.filter(area__path__startswith=root.path)


def access_responsible(user: Any, code: str) -> Responsible:
    if not lookup_safe(code, Responsible._meta.get_field("code").max_length or 0):
        raise Http404(_("No such doctor or cadre."))
    resp = scope_responsible(user).filter(code=code).first()
    if resp is None:
        raise Http404(_("No such doctor or cadre."))
    return resp


def own_responsible(user: Any) -> QuerySet[Responsible]:
    """The doctor/cadre rows linked to the user's own account (their personal lists)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Responsible.objects.none()
    return scope_responsible(user).filter(user=user, active=True)


def access_referral(user: Any, pk: int) -> Referral:
    ref = (
        Referral.objects.filter(person__in=scope_persons(user), pk=pk)
        .select_related("person")
        .first()
    )
    if ref is None:
        raise Http404(_("No such referral."))
    return ref


def access_campaign(user: Any, pk: int) -> Campaign:
    qs = Campaign.objects.all()
    if not sees_everything(user):
        root = jurisdiction(user)
        if root is None:
            raise Http404(_("No such campaign."))
        qs = qs.filter(area__path__startswith=root.path)
    campaign = qs.filter(pk=pk).first()
    if campaign is None:
        raise Http404(_("No such campaign."))
    return campaign


def may_export_identified(user: Any) -> bool:
    """Whether person-level exports for ``user`` keep identifying fields."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    profile = _profile(user)
    roles = settings.RURALWATCH_KG_IDENTIFIED_EXPORT_ROLES
    return profile is not None and profile.jurisdiction is not None and profile.role in roles
