from __future__ import annotations

import pytest
from django.urls import reverse

from ruralwatch.accounts.services import create_user_with_jurisdiction
from tests.dashboard import data


@pytest.mark.django_db
def test_login_page_is_chinese_by_default(client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "登录" in response.content.decode()


@pytest.mark.django_db
def test_login_page_in_english(client) -> None:
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Log in" in response.content.decode()


def test_login_and_logout(client, db, tmp_path) -> None:
    data.build_tree(tmp_path)
    create_user_with_jurisdiction("a", "pw-123456", data.TOWN_A, "township")
    response = client.post(reverse("login"), {"username": "a", "password": "pw-123456"})
    assert response.status_code == 302
    # Each role lands on its own work page: a township health centre on its inbox.
    assert response["Location"] == reverse("landing")
    assert client.get(reverse("landing"))["Location"] == reverse("dispatch:inbox")
    assert client.get(reverse("dashboard:home")).status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard:home")).status_code == 302
