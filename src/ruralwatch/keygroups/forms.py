"""Forms of the key-group pages: logging a contact and registering a newly found person.

Forms check the shape of what was typed (choices, ranges, dates). The rules of the registry
(the resident ID's check digit and its agreement with sex and birth date, duplicates,
guardians for children) are checked by :mod:`ruralwatch.keygroups.services`; the views put
the services' messages back on the form.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from ruralwatch.accounts import access as area_access
from ruralwatch.areas.models import Area
from ruralwatch.keygroups import access, crypto
from ruralwatch.keygroups.models import (
    Comorbidity,
    ContactMethod,
    ContactStatus,
    KeyGroup,
    Responsible,
    ResponsibleKind,
    Sex,
    Vaccination,
)

#: The shape of a phone number as typed (optional ``+``, digits with spaces or dashes inside), as
#: the page and the API's schema state it. The rule itself is ``crypto.phone_ok`` (7 to 15
#: digits, as E.164 allows), which every write applies.
PHONE_PATTERN = r"^\+?[0-9][0-9 -]{5,18}[0-9]$"
PHONE = re.compile(PHONE_PATTERN)
PHONE_MESSAGE = _("Enter a phone number: digits only, 7 to 15 of them.")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def normalise_phone(value: str) -> str:
    """A phone number checked against ``PHONE_PATTERN`` (empty is allowed), stored without
    spaces and dashes. Raises ``forms.ValidationError`` with the message the page shows."""
    value = value.strip()
    if value and not (PHONE.fullmatch(value) and crypto.phone_ok(value)):
        raise forms.ValidationError(PHONE_MESSAGE)
    return value.replace(" ", "").replace("-", "")


class ContactForm(forms.Form):
    """One contact. The quick buttons of the day's list send only ``status`` (and SpO₂)."""

    date = forms.DateField(label=_("Date"), required=False, widget=DateInput())
    method = forms.ChoiceField(
        label=_("How"), choices=ContactMethod.choices, initial=ContactMethod.PHONE, required=False
    )
    status = forms.ChoiceField(label=_("Finding"), choices=ContactStatus.choices)
    spo2 = forms.IntegerField(
        label=_("SpO₂ (%)"),
        required=False,
        min_value=50,
        max_value=100,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if data.get("status") == ContactStatus.SPO2 and data.get("spo2") is None:
            self.add_error("spo2", _("Enter the SpO₂ reading (50–100)."))
        return data


class RegisterForm(forms.Form):
    """A person found outside the roster (e.g. in a re-survey), in one of the user's villages."""

    name = forms.CharField(label=_("Full name"), max_length=60)
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, widget=forms.RadioSelect)
    birth_date = forms.DateField(label=_("Date of birth"), widget=DateInput())
    id_number = forms.CharField(
        label=_("Resident ID number"),
        min_length=18,
        max_length=18,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={
            "min_length": _("A resident ID number has 18 characters."),
            "max_length": _("A resident ID number has 18 characters."),
        },
    )
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=24,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    village: forms.ModelChoiceField[Area] = forms.ModelChoiceField(
        label=_("Village"), queryset=Area.objects.none()
    )
    household = forms.CharField(label=_("Household or address"), required=False, max_length=80)
    groups = forms.ModelMultipleChoiceField(
        label=_("Key groups"),
        queryset=KeyGroup.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one key group.")},
    )
    doctor: forms.ModelChoiceField[Responsible] = forms.ModelChoiceField(
        label=_("Responsible doctor"), queryset=Responsible.objects.none(), required=False
    )
    cadre: forms.ModelChoiceField[Responsible] = forms.ModelChoiceField(
        label=_("Pairing cadre"), queryset=Responsible.objects.none(), required=False
    )
    guardian_name = forms.CharField(label=_("Guardian"), required=False, max_length=60)
    guardian_relation = forms.CharField(
        label=_("Guardian's relation"), required=False, max_length=20
    )
    guardian_phone = forms.CharField(
        label=_("Guardian's phone"),
        required=False,
        max_length=24,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    comorbidity = forms.TypedChoiceField(
        label=_("Chronic disease"),
        choices=Comorbidity.choices,
        coerce=int,
        initial=Comorbidity.NONE,
    )
    vaccination = forms.TypedChoiceField(
        label=_("COVID-19 vaccination"),
        choices=[
            (Vaccination.COMPLETE, _("fully vaccinated")),
            (Vaccination.INCOMPLETE, _("not fully vaccinated")),
            (Vaccination.NONE, _("not vaccinated")),
        ],
        coerce=int,
        initial=Vaccination.NONE,
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        villages = area_access.scope_areas(user).filter(level=5).order_by("code")
        self.fields["village"].queryset = villages  # type: ignore[attr-defined]
        responsible = access.scope_responsible(user).filter(active=True).select_related("area")
        for name, kind in (("doctor", ResponsibleKind.DOCTOR), ("cadre", ResponsibleKind.CADRE)):
            field = self.fields[name]
            field.queryset = responsible.filter(kind=kind).order_by("area_id", "name")  # type: ignore[attr-defined]
            field.label_from_instance = lambda r: f"{r.name} · {r.area.name}"  # type: ignore[attr-defined]
        english = get_language().startswith("en")
        self.fields["groups"].label_from_instance = (  # type: ignore[attr-defined]
            lambda g: g.name_en if english else g.name_zh
        )
        own = list(access.own_responsible(user))
        for r in own:
            self.fields["village"].initial = r.area_id
            self.fields[str(r.kind)].initial = r.pk

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()

    def clean_id_number(self) -> str:
        return str(self.cleaned_data["id_number"]).strip().upper()

    def clean_phone(self) -> str:
        return normalise_phone(self.cleaned_data.get("phone", ""))

    def clean_guardian_phone(self) -> str:
        return normalise_phone(self.cleaned_data.get("guardian_phone", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        village = data.get("village")
        for name in ("doctor", "cadre"):
            r = data.get(name)
            if r is not None and village is not None and not village.path.startswith(r.area.path):
                self.add_error(name, _("This person does not serve the chosen village."))
        return data
