"""Admin for the configurable data (groups, rule sets, expected counts) and read-only logs.

Persons are not edited here: the admin would bypass the access log and the encryption
services. Use the pages, the API or roster imports.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ruralwatch.keygroups.models import (
    AccessLog,
    Campaign,
    ExpectedCount,
    KeyGroup,
    Responsible,
    TierRuleSet,
)


@admin.register(KeyGroup)
class KeyGroupAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name_zh", "name_en", "min_age", "max_age", "needs_guardian")


@admin.register(TierRuleSet)
class TierRuleSetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "active", "updated_at")


@admin.register(Responsible)
class ResponsibleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "kind", "name", "area", "user", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name")
    raw_id_fields = ("area", "user")
    exclude = ("phone_enc",)


@admin.register(ExpectedCount)
class ExpectedCountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("area", "group", "source", "count", "as_of")
    raw_id_fields = ("area",)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "area", "start", "deadline", "closed")
    raw_id_fields = ("area",)


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("at", "user", "person", "area_code", "n_persons", "purpose")
    list_filter = ("purpose",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
