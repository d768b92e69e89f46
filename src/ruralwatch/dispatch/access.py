"""The choke point for tasks a user can name: scoped to the jurisdiction subtree.

A user sees a task when its owner area or its source area lies in the jurisdiction (so a
township still sees its task after it escalated to the county). Deny by default, as in
:mod:`ruralwatch.accounts.access`; a missing task and a task out of scope raise the same
``Http404``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import jurisdiction, sees_everything
from ruralwatch.dispatch.models import Task


def scope_tasks(user: Any) -> QuerySet[Task]:
    """Tasks ``user`` may see: owner or source area inside the jurisdiction (range scans on
    the tasks' materialized paths)."""
    if sees_everything(user):
        return Task.objects.all()
    root = jurisdiction(user)
    if root is None:
        return Task.objects.none()
    return Task.objects.filter(
        Q(owner_path__startswith=root.path) | Q(area_path__startswith=root.path)
    )


def access_task_by_id(user: Any, task_id: Any) -> Task:
    """The task ``task_id`` if ``user`` may see it; ``Http404`` if missing or out of scope."""
    try:
        pk = int(task_id)
    except (TypeError, ValueError):
        raise Http404(_("No such task.")) from None
    task = scope_tasks(user).select_related("kind", "area", "owner_area").filter(pk=pk).first()
    if task is None:
        raise Http404(_("No such task."))
    return task
