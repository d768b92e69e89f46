"""The choke point for archived briefings a user can name: scoped to the jurisdiction.

A user sees the briefings of the areas inside their jurisdiction subtree (deny by default, as
:mod:`ruralwatch.accounts.access`); a missing briefing and one out of scope raise the same
``Http404``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import jurisdiction, sees_everything
from ruralwatch.briefings.models import Briefing


def scope_briefings(user: Any) -> QuerySet[Briefing]:
    """Briefings of areas inside ``user``'s jurisdiction (a range scan on the area path)."""
    if sees_everything(user):
        return Briefing.objects.all()
    root = jurisdiction(user)
    if root is None:
        return Briefing.objects.none()
    return Briefing.objects.filter(area__path__startswith=root.path)


def access_briefing_by_id(user: Any, briefing_id: Any) -> Briefing:
    """The briefing ``briefing_id`` if ``user`` may see it; ``Http404`` if missing or out of
    scope."""
    try:
        pk = int(briefing_id)
    except (TypeError, ValueError):
        raise Http404(_("No such briefing.")) from None
    if not 0 < pk < 2**63:
        raise Http404(_("No such briefing."))
    found = scope_briefings(user).select_related("area").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such briefing."))
    return found
