from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "ruralwatch.dashboard"
    verbose_name = _("Dashboard")

    def ready(self) -> None:
        from ruralwatch.dashboard.datacache import install_after_migrate

        # After every migrate: the data version's tables and triggers (datacache.py).
        post_migrate.connect(install_after_migrate, dispatch_uid="rw-data-version")
