from django.contrib import admin

from ruralwatch.signals.models import DetectionRule, Signal


@admin.register(DetectionRule)
class DetectionRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("method", "indicator", "level", "history_days", "active")
    list_filter = ("level", "method", "active")


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("date", "area", "indicator", "method", "observed", "threshold", "score")
    list_filter = ("method", "date")
    raw_id_fields = ("area", "rule")
