"""The login form (says plainly when logins are refused for too many failures) and the form
that creates a user below the acting user."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
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


class UserCreateForm(forms.Form):
    """A new user below the acting user: role (only those they may give), area, name and an
    optional password (empty: a random one, shown once). The rules are the service's."""

    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    role = forms.ChoiceField(label=_("Role"))
    area = forms.CharField(
        label=_("Area"),
        max_length=12,
        help_text=_("The area code: pick from the list or type it."),
        widget=forms.TextInput(
            attrs={"list": "areas", "autocomplete": "off", "inputmode": "numeric"}
        ),
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        strip=False,
        help_text=_("Leave empty for a random password, shown once after saving."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = roles
