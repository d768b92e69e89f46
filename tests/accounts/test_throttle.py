"""Login throttling: too many failures for a user name (or from one address) within the window
refuse every further attempt, right or wrong, with a message, until the window has passed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.urls import reverse

from ruralwatch.accounts.models import LoginFailure
from ruralwatch.accounts.services import create_user_with_jurisdiction
from tests.dashboard import data

GOOD = "right-password-1"


@pytest.fixture
def user(db: None, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RURALWATCH_LOGIN_MAX_FAILURES = 3
    settings.RURALWATCH_LOGIN_WINDOW_MINUTES = 15
    # Throttling counts attempts whatever the hasher; PBKDF2's million rounds on every attempt
    # (and on every unknown user name, which Django hashes too) were most of this module's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    data.build_tree(tmp_path)
    create_user_with_jurisdiction("a", GOOD, data.TOWN_A, "township")


def _login(client: Client, password: str, username: str = "a", **extra: str) -> int:
    response = client.post(reverse("login"), {"username": username, "password": password}, **extra)
    return response.status_code


def test_failures_lock_the_user_name_then_the_window_passes(user: None) -> None:
    client = Client()
    for _ in range(3):
        assert _login(client, "wrong") == 200  # the form again, with the usual error
    # The right password is now refused too, and the page says why.
    response = client.post(
        reverse("login"), {"username": "a", "password": GOOD}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user name from another address is not affected.
    create_user_with_jurisdiction("b", GOOD, data.TOWN_B, "township")
    assert _login(Client(), GOOD, username="b", REMOTE_ADDR="10.0.0.9") == 302
    # When the window has passed, the right password works and clears the failures.
    LoginFailure.objects.update(at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert _login(client, GOOD) == 302
    assert not LoginFailure.objects.filter(username="a").exists()


def test_the_message_is_translated(user: None) -> None:
    client = Client()
    for _ in range(3):
        _login(client, "wrong")
    response = client.post(reverse("login"), {"username": "a", "password": GOOD})
    assert "登录失败次数过多" in response.content.decode()


def test_a_success_forgives_earlier_failures(user: None) -> None:
    client = Client()
    for _ in range(2):
        _login(client, "wrong")
    assert _login(client, GOOD) == 302
    assert LoginFailure.objects.filter(username="a").count() == 0


def test_one_address_guessing_many_user_names_is_refused(user: None) -> None:
    for i in range(30):  # 10 × the per-user limit, each user name only once
        assert _login(Client(), "wrong", username=f"nobody{i}", REMOTE_ADDR="10.1.1.1") == 200
    assert _login(Client(), GOOD, REMOTE_ADDR="10.1.1.1") == 200  # refused from that address
    assert _login(Client(), GOOD, REMOTE_ADDR="10.2.2.2") == 302  # fine from another


def test_the_backend_refuses_everywhere_not_only_on_the_form(user: None) -> None:
    request = RequestFactory().post("/admin/login/")
    for _ in range(3):
        assert authenticate(request, username="a", password="wrong") is None
    assert authenticate(request, username="a", password=GOOD) is None  # admin login included


def test_proxy_header_names_the_client(user: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RURALWATCH_CLIENT_IP_HEADER = "X-Real-IP"
    _login(Client(), "wrong", username="zz", HTTP_X_REAL_IP="203.0.113.7")
    assert LoginFailure.objects.get(username="zz").ip == "203.0.113.7"
