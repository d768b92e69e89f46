from django.contrib import admin

from ruralwatch.dispatch.models import Notification, Task, TaskEvent, TaskKind


@admin.register(TaskKind)
class TaskKindAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "code",
        "name_zh",
        "source",
        "owner_role",
        "owner_level",
        "ack_hours",
        "done_hours",
        "escalate_every_hours",
        "priority",
        "outcome_required",
        "auto_close",
        "active",
    )
    list_filter = ("source", "active")


class TaskEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TaskEvent
    extra = 0
    raw_id_fields = ("actor", "from_area", "to_area")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "kind", "area", "date", "status", "owner_area", "owner_role", "due_ack")
    list_filter = ("kind", "status", "owner_level")
    search_fields = ("source_key",)
    raw_id_fields = ("area", "owner_area")
    inlines = [TaskEventInline]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "task", "text", "read", "created_at")
    list_filter = ("read",)
    raw_id_fields = ("user", "task")
