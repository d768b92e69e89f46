"""Who a user is in the hierarchy: a role and the area (subtree) they may see."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area


class Role(models.TextChoices):
    """The roles of the five levels. ``county`` is the CDC duty desk that acts on tasks; the
    county leader answers for the county (五级书记) and reads without acting."""

    VILLAGE_DOCTOR = "village_doctor", _("village doctor")
    VILLAGE_CADRE = "village_cadre", _("village cadre")
    TOWNSHIP = "township", _("township health centre")
    COUNTY = "county", _("county CDC duty officer")
    COUNTY_LEADER = "county_leader", _("county leader")
    PREFECTURE = "prefecture", _("prefecture task force")
    PROVINCE = "province", _("province task force")
    NATIONAL = "national", _("national task force")


#: The level of the area each role answers for; 0 is above the provinces (no area).
ROLE_LEVEL: dict[str, int] = {
    Role.VILLAGE_DOCTOR: 5,
    Role.VILLAGE_CADRE: 5,
    Role.TOWNSHIP: 4,
    Role.COUNTY: 3,
    Role.COUNTY_LEADER: 3,
    Role.PREFECTURE: 2,
    Role.PROVINCE: 1,
    Role.NATIONAL: 0,
}
#: Roles that manage the users below them. The county leader reads and is held to account
#: but grants nothing (it cannot grant the duty desk's acting rights it does not hold); the
#: village roles have nobody below them.
MANAGING_ROLES: frozenset[str] = frozenset(
    {Role.TOWNSHIP, Role.COUNTY, Role.PREFECTURE, Role.PROVINCE, Role.NATIONAL}
)


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


class AccountEvent(models.Model):
    """Who created, deactivated or reactivated a user, and when: the trace of user
    management. The role and area are copied as they were, so the trace stays true when the
    profile changes."""

    class Kind(models.TextChoices):
        CREATED = "created", _("created")
        DEACTIVATED = "deactivated", _("deactivated")
        REACTIVATED = "reactivated", _("reactivated")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="account_events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty: an operator's command."),
    )
    kind = models.CharField(_("what"), max_length=20, choices=Kind.choices)
    at = models.DateTimeField(_("at"))
    role = models.CharField(_("role"), max_length=20, blank=True, default="")
    area_code = models.CharField(_("area code"), max_length=12, blank=True, default="")

    class Meta:
        verbose_name = _("user-management event")
        verbose_name_plural = _("user-management events")
        indexes = [models.Index(fields=["user", "at"], name="accountevent_user_at")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.at:%Y-%m-%d %H:%M:%S}"


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
