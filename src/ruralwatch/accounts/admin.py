from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from ruralwatch.accounts.models import AccountEvent, Profile

User = get_user_model()


class ProfileInline(admin.StackedInline):  # type: ignore[type-arg]
    model = Profile
    can_delete = False
    raw_id_fields = ("jurisdiction",)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "role", "jurisdiction")
    list_filter = ("role",)
    list_select_related = ("user", "jurisdiction")
    search_fields = ("user__username", "jurisdiction__code", "jurisdiction__name")
    raw_id_fields = ("jurisdiction",)


@admin.register(AccountEvent)
class AccountEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The trace of user management: read-only, as an audit log should be."""

    list_display = ("at", "kind", "user", "role", "area_code", "actor")
    list_filter = ("kind", "role")
    list_select_related = ("user", "actor")
    search_fields = ("user__username", "actor__username", "area_code")
    date_hierarchy = "at"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class RuralWatchUserAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = (ProfileInline,)
