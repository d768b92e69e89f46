"""Who a user is in the hierarchy: a role and the area (subtree) they may see."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area


class Role(models.TextChoices):
    VILLAGE_DOCTOR = "village_doctor", _("village doctor")
    TOWNSHIP = "township", _("township health centre")
    COUNTY = "county", _("county CDC / health bureau")
    PREFECTURE = "prefecture", _("prefecture task force")
    PROVINCE = "province", _("province task force")
    NATIONAL = "national", _("national task force")


class Profile(models.Model):
    """A user's place in the hierarchy.

    ``jurisdiction`` is the root of the subtree the user may see; empty means no access
    (deny by default), except for the national role, which covers the whole tree.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="profile",
    )
    jurisdiction = models.ForeignKey(
        Area,
        verbose_name=_("jurisdiction"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The user sees this area and everything below it. Empty: no access."),
    )
    role = models.CharField(
        _("role"), max_length=20, choices=Role.choices, default=Role.VILLAGE_DOCTOR
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class LoginFailure(models.Model):
    """One failed login: counted per user name and per client address to refuse guessing.

    Rows older than the throttling window are deleted as new failures arrive; a successful
    login deletes the user name's rows.
    """

    username = models.CharField(_("user name"), max_length=150)
    ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("failed login")
        verbose_name_plural = _("failed logins")
        indexes = [
            models.Index(fields=["username", "at"], name="loginfailure_user_at"),
            models.Index(fields=["ip", "at"], name="loginfailure_ip_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.ip} {self.at:%Y-%m-%d %H:%M:%S}"
