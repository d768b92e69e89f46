"""Forms of the dispatch pages: acting on a task, the inbox filters, the accountability period."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ruralwatch.core.dates import in_span
from ruralwatch.dispatch.models import OPEN_STATUSES, Outcome, Status

#: What a user can do to a task from a page (``services.ACTIONS``), with the buttons' words.
ACTION_LABELS: dict[str, Any] = {
    "acknowledge": _("Acknowledge"),
    "verify": _("Start verifying"),
    "outcome": _("Record outcome"),
    "respond": _("Start response"),
    "close": _("Close"),
    "comment": _("Add comment"),
}

#: The longest period the accountability page computes at once (days).
MAX_PERIOD_DAYS = 366


class ActForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=list(ACTION_LABELS.items()))
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *Outcome.choices], required=False
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class InboxFilter(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("every open status"))]
        + [(s.value, s.label) for s in Status if s in OPEN_STATUSES],
    )

    def __init__(self, *args: Any, kinds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("every kind")), *kinds]  # type: ignore[attr-defined]


class PeriodForm(forms.Form):
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    until = forms.DateField(
        label=_("To (inclusive)"), required=False, widget=forms.DateInput({"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since: dt.date | None = data.get("since")
        until: dt.date | None = data.get("until")
        for name, day in (("since", since), ("until", until)):
            if day is not None and not in_span(day):
                self.add_error(name, _("Give a date between 1900 and 2099."))
                return data
        if since and until:
            if since > until:
                raise ValidationError(_("The start date is after the end date."))
            if (until - since).days > MAX_PERIOD_DAYS:
                raise ValidationError(
                    _("The period is too long (at most %(n)d days).") % {"n": MAX_PERIOD_DAYS}
                )
        return data
