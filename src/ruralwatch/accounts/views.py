"""User management for the level above: the users below me, a create form, deactivation.

Views parse the request, call one selector or service and render. The users a page names come
from :func:`ruralwatch.accounts.access.scope_users` (one 404 for a missing user and one outside
the jurisdiction); the rules of who may give which role over which area are the service's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ruralwatch.accounts import access, selectors, services
from ruralwatch.accounts.forms import UserCreateForm
from ruralwatch.accounts.models import Role

#: Users per page of the list.
PER_PAGE = 100


def _roles(user: Any) -> list[tuple[str, str]]:
    return [(r, str(Role(r).label)) for r in services.grantable_roles(user)]


def _page(
    request: HttpRequest,
    form: UserCreateForm | None,
    created: dict[str, Any] | None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    manages = access.manages_from(user) is not None
    q = request.GET.get("q", "").replace("\x00", "")[:100]
    found = selectors.managed_users(user, q)
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    profile = access._profile(user)
    context = {
        "manages": manages,
        "page": page,
        "q": q,
        "form": form,
        "created": created,
        "areas": selectors.assignable_areas(user) if manages else [],
        "my_role": Role(profile.role).label if profile and profile.role in Role.values else "",
        "my_area": access.jurisdiction(user),
    }
    return render(request, "accounts/users.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    """GET: the users I manage and the create form. POST: create one; the page shows the
    new user's password once if it was generated (never stored in a message or a cookie)."""
    roles = _roles(request.user)
    if request.method != "POST" or not roles:
        return _page(request, UserCreateForm(roles=roles) if roles else None, None)
    form = UserCreateForm(request.POST, roles=roles)
    if not form.is_valid():
        return _page(request, form, None)
    data = form.cleaned_data
    try:
        user, generated = services.create_user_in_jurisdiction(
            request.user, data["username"], data["role"], data["area"], data["password"]
        )
    except Http404 as exc:  # missing or outside the jurisdiction: the same words
        form.add_error("area", str(exc))
        return _page(request, form, None)
    except services.AccountError as exc:
        form.add_error(None, str(exc))
        return _page(request, form, None)
    profile = user.profile  # type: ignore[attr-defined]
    created = {
        "username": user.get_username(),
        "role": Role(profile.role).label,
        "area": profile.jurisdiction,
        "password": generated,
    }
    return _page(request, UserCreateForm(roles=roles), created)


@login_required
@require_POST
def deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    """Deactivate a user I manage (404 for anyone else, as for a missing user)."""
    target = access.access_user_by_id(request.user, user_id)
    services.deactivate_user_in_jurisdiction(request.user, target)
    messages.success(
        request,
        _("%(name)s is deactivated: they can no longer log in, and their API tokens stop working.")
        % {"name": target.get_username()},
    )
    return redirect("users")


@login_required
@require_POST
def reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    """Reactivate a user I manage (404 for anyone else, as for a missing user)."""
    target = access.access_user_by_id(request.user, user_id)
    services.reactivate_user_in_jurisdiction(request.user, target)
    messages.success(
        request,
        _("%(name)s is active again and can log in.") % {"name": target.get_username()},
    )
    return redirect("users")


#: Where each role starts its day (a URL name): the village roles on their list of key-group
#: contacts, the township health centre on its inbox of tasks, the county and above on the
#: epidemic overview. A role not listed (and a user without a role) starts on the overview.
ROLE_LANDING: dict[str, str] = {
    Role.VILLAGE_DOCTOR: "keygroups:today",
    Role.VILLAGE_CADRE: "keygroups:today",
    Role.TOWNSHIP: "dispatch:inbox",
}
DEFAULT_LANDING = "dashboard:home"


def landing_url(user: Any) -> str:
    """The work page ``user`` lands on after logging in (by role)."""
    profile = access._profile(user)
    role = profile.role if profile is not None else None
    return reverse(ROLE_LANDING.get(role, DEFAULT_LANDING)) if role else reverse(DEFAULT_LANDING)


@login_required
@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """``LOGIN_REDIRECT_URL``: each role lands on its own work page."""
    return redirect(landing_url(request.user))
