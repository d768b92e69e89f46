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
from ruralwatch.core.i18n import localized
from ruralwatch.keygroups import access, crypto, services
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
        # A reading that was typed but refused (e.g. 200) already has its error: "no value"
        # would be a second, wrong one.
        if (
            data.get("status") == ContactStatus.SPO2
            and data.get("spo2") is None
            and "spo2" not in self.errors
        ):
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
        self.user = user
        self.fields["village"].queryset = picker_queryset(user, "village")  # type: ignore[attr-defined]
        for name in ("doctor", "cadre"):
            field = self.fields[name]
            field.queryset = picker_queryset(user, name)  # type: ignore[attr-defined]
            field.label_from_instance = _responsible_label  # type: ignore[attr-defined]
        language = get_language()
        self.fields["groups"].label_from_instance = (  # type: ignore[attr-defined]
            lambda g: localized(g, "name", language)
        )
        own = list(access.own_responsible(user))
        for r in own:
            self.fields["village"].initial = r.area_id
            self.fields[str(r.kind)].initial = r.pk
        self._limit_pickers()

    def _chosen(self, name: str) -> str:
        """The value of a picker as the page will show it (posted, else initial)."""
        if self.is_bound:
            return str(self.data.get(self.add_prefix(name)) or "")
        value = self.initial.get(name, self.fields[name].initial)
        return "" if value is None else str(value)

    def _limit_pickers(self) -> None:
        """Render only what a picker needs: the chosen option, or, when they are few, all of
        them; the doctors and cadres of the chosen village. The search box beside each picker
        (htmx, :func:`picker_choices`) fetches the rest. The fields keep their whole scoped
        queryset, so what is posted is checked against everything the user may choose."""
        village = self._chosen("village")
        for name in PICKERS:
            chosen = self._chosen(name)
            field = self.fields[name]
            choices = picker_choices(
                self.user, name, "", village=village if name != "village" else "", chosen=chosen
            )
            field.widget.choices = choices
            field.widget.attrs.update(picker_attrs(name))

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()

    def clean_id_number(self) -> str:
        value = crypto.normalise_id(str(self.cleaned_data["id_number"]))
        problems = services.id_number_problems(value, None, None)
        if problems:
            raise forms.ValidationError(problems)
        return value

    def clean_phone(self) -> str:
        return normalise_phone(self.cleaned_data.get("phone", ""))

    def clean_guardian_phone(self) -> str:
        return normalise_phone(self.cleaned_data.get("guardian_phone", ""))

    def clean(self) -> dict[str, Any]:
        """The rules of the registry that need several fields, checked here too so that every
        error shows at once (the service checks them again when it writes): the ID number
        against sex and birth date, a guardian for a child, the doctor's and cadre's area."""
        data = super().clean() or self.cleaned_data
        village = data.get("village")
        for name in ("doctor", "cadre"):
            r = data.get(name)
            if r is not None and village is not None and not village.path.startswith(r.area.path):
                self.add_error(name, _("This person does not serve the chosen village."))
        id_number = data.get("id_number")
        if id_number and ("sex" in data or "birth_date" in data):
            for problem in services.id_number_problems(
                id_number, data.get("sex"), data.get("birth_date")
            ):
                self.add_error("id_number", problem)
        groups = data.get("groups")
        if (
            groups is not None
            and any(g.needs_guardian for g in groups)
            and not data.get("guardian_name")
            and "guardian_name" not in self.errors
        ):
            self.add_error("guardian_name", _("a guardian is needed for a child"))
        return data


#: The fields of :class:`RegisterForm` chosen with a search-as-you-type picker.
PICKERS = ("village", "doctor", "cadre")
#: Most options a picker lists at once (the search narrows them).
PICKER_LIMIT = 30


def _responsible_label(r: Responsible) -> str:
    return f"{r.name} · {r.area.name}"


def _village_label(a: Area) -> str:
    return f"{a.name} · {a.parent.name}" if a.parent_id else a.name  # type: ignore[union-attr]


def picker_queryset(user: Any, name: str) -> Any:
    """Everything ``user`` may choose in picker ``name`` (in the jurisdiction, active)."""
    if name == "village":
        return area_access.scope_areas(user).filter(level=5).order_by("code")
    kind = ResponsibleKind.DOCTOR if name == "doctor" else ResponsibleKind.CADRE
    return (
        access.scope_responsible(user)
        .filter(active=True, kind=kind)
        .select_related("area")
        .order_by("area_id", "name")
    )


def picker_attrs(name: str) -> dict[str, str]:
    """htmx on a picker's ``<select>``: the doctor's and cadre's lists follow the village."""
    if name == "village":
        return {"data-picker": name}
    from django.urls import reverse

    return {
        "data-picker": name,
        "hx-get": reverse("keygroups:register_options", args=[name]),
        "hx-trigger": "change from:#id_village",
        "hx-include": "#id_village",
        "hx-swap": "innerHTML",
    }


def picker_choices(
    user: Any, name: str, q: str, *, village: str = "", chosen: str = ""
) -> list[tuple[str, str]]:
    """The options of picker ``name`` for the search ``q``: ``("", "---------")`` first, then
    the chosen option (if the user may choose it here), then up to ``PICKER_LIMIT`` matches by
    name or code. Doctors and cadres are narrowed to those serving ``village`` (when one is
    chosen), the chosen one too: a doctor of the village chosen before is dropped. Fixed
    number of queries."""
    from django.db.models import Q

    qs = picker_queryset(user, name)
    q = q.strip()[:40]
    if name == "village":
        qs = qs.select_related("parent")
        label: Any = _village_label
    else:
        if village and area_access.lookup_safe(village, 32):
            place = area_access.scope_areas(user).filter(code=village).first()
            if place is not None:
                # Those whose area is the village or one of its ancestors (its path's codes).
                codes = [c for c in place.path.strip("/").split("/") if c]
                qs = qs.filter(area_id__in=codes)
        label = _responsible_label
    out: list[tuple[str, str]] = [("", "---------")]
    shown: set[str] = set()
    if chosen and area_access.lookup_safe(chosen, 60):
        try:
            found = qs.filter(pk=chosen).first()
        except (ValueError, TypeError):  # not a number, for a doctor's or cadre's id
            found = None
        if found is not None:
            out.append((str(found.pk), label(found)))
            shown.add(str(found.pk))
    if q:
        words = Q(name__contains=q) | Q(code__startswith=q)
        qs = qs.filter(words | Q(parent__name__contains=q) if name == "village" else words)
    for item in qs[:PICKER_LIMIT]:
        if str(item.pk) not in shown:
            out.append((str(item.pk), label(item)))
    return out
