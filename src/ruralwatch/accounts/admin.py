from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from ruralwatch.accounts.models import Profile

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


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class RuralWatchUserAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = (ProfileInline,)
