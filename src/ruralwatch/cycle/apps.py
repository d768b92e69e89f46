from django.apps import AppConfig


class CycleConfig(AppConfig):
    """The orchestration app: the daily cycle, the demo and the worker's run ledger."""

    name = "ruralwatch.cycle"
    label = "cycle"
    verbose_name = "Cycle"
