"""``ruralwatch users``: user management for operators and scripts, scoped like the web.

A user's role fixes the level of the area they answer for (a village doctor or a village cadre
a village, a township health centre a township, the county CDC duty officer or the county
leader a county, …; the national role no area) and they see that area's subtree, exactly as
when they log in to the site or call the API. Users of a level manage those below them on the
site and through ``/api/users``; this command is the operator's, unscoped, and logs what it
does as done by an operator.
"""

from __future__ import annotations

import sys

import typer

from ruralwatch.cli._runtime import console, django_setup, fail, out

users_app = typer.Typer(help="Create, list, deactivate and reactivate users; issue API tokens.")


def _read_password(password_stdin: bool) -> tuple[str, bool]:
    """The password from standard input's first line, or a new random one (and say so)."""
    if password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail("--password-stdin: standard input gave no password", 2)
        return line, False
    import secrets

    return secrets.token_urlsafe(12), True


def _user(username: str) -> object:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise fail(f"no user named {username!r}", 1)
    return user


@users_app.command("create")
def create(
    username: str = typer.Option(..., "--username", help="The login name."),
    role: str = typer.Option(
        ...,
        "--role",
        help=(
            "village_doctor or village_cadre (a village); township (a township health centre);"
            " county (the county CDC duty officer, who acts on tasks) or county_leader (reads"
            " and answers for the county, acts on no task); prefecture, province (task forces"
            " over such an area); national (no area)."
        ),
    ),
    area: str = typer.Option(
        "", "--area", help="Code of the area the user answers for (none for the national role)."
    ),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="Read the password from standard input; otherwise a random one is printed.",
    ),
) -> None:
    """Create a user with a role over an area's subtree."""
    django_setup()
    from ruralwatch.accounts.services import AccountError, create_user

    password, generated = _read_password(password_stdin)
    try:
        user = create_user(username, password, area.strip() or None, role.strip())
    except AccountError as exc:
        raise fail(str(exc), 1) from None
    profile = user.profile  # type: ignore[attr-defined]
    where = (
        f"{profile.jurisdiction.code} {profile.jurisdiction.name}"
        if profile.jurisdiction
        else "the whole tree"
    )
    out.print(f"created {user.get_username()}: {profile.role} over {where}", highlight=False)
    if generated:
        out.print(f"password: {password}", highlight=False)


@users_app.command("token")
def token(
    username: str = typer.Argument(..., help="The user the token acts for."),
    name: str = typer.Option("cli", "--name", help="A label to tell the user's tokens apart."),
    expires_in_days: int = typer.Option(
        0, "--expires-in-days", min=0, max=3650, help="Days until it expires (0: never)."
    ),
) -> None:
    """Print a new API token for USERNAME (shown once; send it as ``Authorization: Bearer``)."""
    django_setup()
    from ruralwatch.api.services import create_token

    user = _user(username)
    if not user.is_active:  # type: ignore[attr-defined]
        raise fail(f"user {username!r} is deactivated: a token would not work", 1)
    _, plain = create_token(user, name, expires_in_days=expires_in_days or None)
    out.print(plain, highlight=False)


@users_app.command("list")
def list_users(
    area: str = typer.Option("", "--area", help="Only users whose area lies in this subtree."),
) -> None:
    """List users with their role, area and state."""
    django_setup()
    from rich.table import Table

    from ruralwatch.accounts.selectors import users
    from ruralwatch.areas.models import Area

    root = None
    if area:
        root = Area.objects.filter(code=area).first()
        if root is None:
            raise fail(f"unknown area code {area}", 1)
    table = Table()
    for col in ("user", "role", "area", "active", "last login"):
        table.add_column(col)
    for user in users(root):
        profile = getattr(user, "profile", None)
        jur = profile.jurisdiction if profile else None
        table.add_row(
            user.get_username(),
            profile.role if profile else ("superuser" if user.is_superuser else "—"),
            f"{jur.code} {jur.name}" if jur else "",
            "yes" if user.is_active else "no",
            f"{user.last_login:%Y-%m-%d %H:%M}" if user.last_login else "",
        )
    out.print(table)


@users_app.command("deactivate")
def deactivate(username: str = typer.Argument(..., help="The user to deactivate.")) -> None:
    """Stop USERNAME from logging in; their API tokens stop working too."""
    django_setup()
    from ruralwatch.accounts.services import deactivate_user

    deactivate_user(_user(username))
    console.print(f"{username} deactivated", highlight=False)


@users_app.command("reactivate")
def reactivate(username: str = typer.Argument(..., help="The user to reactivate.")) -> None:
    """Let a deactivated USERNAME log in again."""
    django_setup()
    from ruralwatch.accounts.services import reactivate_user

    reactivate_user(_user(username))
    console.print(f"{username} reactivated", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
