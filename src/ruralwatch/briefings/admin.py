from django.contrib import admin

from ruralwatch.briefings.models import Briefing


@admin.register(Briefing)
class BriefingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "area",
        "date",
        "issue",
        "revision",
        "language",
        "format",
        "pages",
        "size",
        "created_by",
        "created_at",
    )
    list_filter = ("format", "language")
    raw_id_fields = ("area", "created_by")
    readonly_fields = ("file", "sha256", "figures", "seconds")
