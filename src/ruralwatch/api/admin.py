from django.contrib import admin
from django.http import HttpRequest

from ruralwatch.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Tokens are created by their users (``POST /api/auth/tokens``); here they can be seen
    and revoked (set "revoked at"), never read back."""

    list_display = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "key_hash", "created_at", "expires_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
