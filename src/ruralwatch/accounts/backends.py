"""Password authentication that refuses guessing: after too many failures for a user name
(or from one client address) within the window, every further attempt is refused, right or
wrong, until the window has passed. Applies to every login form (the site's and the admin's)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from ruralwatch.accounts.selectors import login_refused
from ruralwatch.accounts.services import clear_login_failures, record_login_failure


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: the configured proxy header if any, else the socket's."""
    if request is None:
        return None
    header = settings.RURALWATCH_CLIENT_IP_HEADER
    if header:
        value = request.headers.get(header, "")
        ip = value.split(",")[0].strip()
        if ip:
            return ip
    return request.META.get("REMOTE_ADDR") or None


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ip = client_ip(request)
        if login_refused(username, ip):
            raise PermissionDenied  # stops authentication here: no other backend is tried
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_login_failure(username, ip)
        else:
            clear_login_failures(username)
        return user

    def get_user(self, user_id: Any) -> Any:
        """The signed-in user of a session, as ``ModelBackend.get_user`` (``None`` when gone
        or inactive). Every request of a session asks it: a raw query of the user model
        costs a fraction of compiling the ORM's ``get``."""
        user_model = get_user_model()
        try:
            pk = user_model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        meta = user_model._meta
        sql = f"SELECT * FROM {meta.db_table} WHERE {meta.pk.column} = %s"
        found = list(user_model._default_manager.raw(sql, [pk]))
        if not found:
            return None
        return found[0] if self.user_can_authenticate(found[0]) else None
