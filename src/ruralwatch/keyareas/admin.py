from django.contrib import admin

from ruralwatch.keyareas.models import Pairing, SupportRequest, TagChange


@admin.register(Pairing)
class PairingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("key_area", "support_unit", "since")
    raw_id_fields = ("key_area", "support_unit", "set_by")


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("key_area", "support_unit", "need", "status", "filed_at", "respond_by")
    list_filter = ("status", "need")
    raw_id_fields = ("key_area", "support_unit", "filed_by", "answered_by")


@admin.register(TagChange)
class TagChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("area", "before", "after", "source", "at")
    list_filter = ("source",)
    raw_id_fields = ("area", "by")
