from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "ruralwatch.intake"
    label = "intake"
    verbose_name = _("Intake")

    def ready(self) -> None:
        # An import of whole new days hands its values over for the validation's copies.
        from ruralwatch.intake import nightly
        from ruralwatch.reporting import hooks

        hooks.whole_days_begin.connect(nightly.begin_whole_days, dispatch_uid="intake.begin")
        hooks.whole_days_written.connect(
            nightly.whole_days_written, dispatch_uid="intake.whole_days"
        )
