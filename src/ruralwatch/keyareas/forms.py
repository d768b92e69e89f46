"""Forms of the key-area pages: they parse; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import KEY_AREA_TAGS
from ruralwatch.keyareas.models import Need
from ruralwatch.keyareas.services import DEFAULT_RESPONSE_HOURS, MAX_RESPONSE_HOURS


class TagsForm(forms.Form):
    tags = forms.MultipleChoiceField(
        label=_("Key-area tags"),
        choices=list(KEY_AREA_TAGS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class PairingForm(forms.Form):
    support_unit = forms.CharField(label=_("Code of the support unit"), max_length=12)


class RequestForm(forms.Form):
    need = forms.ChoiceField(label=_("Need"), choices=Need.choices)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=0, required=False)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
    hours = forms.IntegerField(
        label=_("Respond within (hours)"),
        min_value=1,
        max_value=MAX_RESPONSE_HOURS,
        initial=DEFAULT_RESPONSE_HOURS,
    )


class AnswerForm(forms.Form):
    request = forms.CharField(max_length=12)
    answer = forms.CharField(label=_("Answer"), max_length=300)


class WithdrawForm(forms.Form):
    request = forms.CharField(max_length=12)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or XLSX file"))
