from django.contrib import admin

from ruralwatch.resources.models import (
    Capacity,
    CountyPairing,
    Facility,
    Item,
    MinimumRule,
    StockReport,
    Transfer,
)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name_zh", "name_en", "unit_zh", "pack_size", "consumable", "order")


@admin.register(MinimumRule)
class MinimumRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("item", "facility_kind", "units", "population_share", "days", "active")
    list_filter = ("facility_kind", "active")


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "kind", "grade", "area", "population_served", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name")
    raw_id_fields = ("area",)


@admin.register(Capacity)
class CapacityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("facility", "as_of", "fever_clinic", "beds", "icu_beds", "doctors")
    raw_id_fields = ("facility",)


@admin.register(StockReport)
class StockReportAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("facility", "item", "date", "on_hand", "received", "issued")
    list_filter = ("item",)
    raw_id_fields = ("facility",)


@admin.register(CountyPairing)
class CountyPairingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("county", "hospital", "since", "until", "reserved_beds", "green_channel")
    raw_id_fields = ("county", "hospital")


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("date", "source", "target", "patients", "severe", "green_channel")
    raw_id_fields = ("source", "target")
