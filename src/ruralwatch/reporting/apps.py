from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    name = "ruralwatch.reporting"
    verbose_name = _("Reporting")
