"""The login form: says plainly when logins are refused for too many failures."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

from ruralwatch.accounts.backends import client_ip
from ruralwatch.accounts.selectors import login_refused


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username and login_refused(username, client_ip(self.request)):
            minutes = settings.RURALWATCH_LOGIN_WINDOW_MINUTES
            raise ValidationError(
                ngettext(
                    "Too many failed logins. Logging in is refused for this user name or "
                    "address; try again in %(minutes)d minute.",
                    "Too many failed logins. Logging in is refused for this user name or "
                    "address; try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="throttled",
            )
        return super().clean()
