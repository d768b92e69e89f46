from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeyareasConfig(AppConfig):
    name = "ruralwatch.keyareas"
    label = "keyareas"
    verbose_name = _("Key areas")
