"""Issue 12, defect 10: the 404, 403, CSRF 403 and 500 pages are the site's, in the user's
language, with the top bar and a way on; before, they were Django's bare English pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import path

from ruralwatch.config.urls import urlpatterns as site_urls
from tests.dashboard import data


def _boom(request: Any) -> Any:
    raise RuntimeError("a failure for the 500 page")


def _denied(request: Any) -> Any:
    from django.core.exceptions import PermissionDenied

    raise PermissionDenied


urlpatterns = [path("test-500/", _boom), path("test-403/", _denied), *site_urls]
handler403 = "ruralwatch.dashboard.errors.permission_denied"
handler404 = "ruralwatch.dashboard.errors.page_not_found"
handler500 = "ruralwatch.dashboard.errors.server_error"


def _frame(html: str) -> None:
    """The site's frame: its stylesheet, top bar and brand link home."""
    assert "dashboard/dashboard.css" in html
    assert '<header class="topbar">' in html and 'class="brand" href="/"' in html
    assert "Not Found</h1>" not in html and "The requested resource" not in html


@pytest.mark.parametrize(
    ("language", "heading", "way"),
    [("zh-hans", "页面不存在", "我的工作页"), ("en", "Page not found", "My work page")],
)
def test_404_in_the_frame_with_navigation(
    client: Client, user_county: Any, language: str, heading: str, way: str
) -> None:
    client.force_login(user_county)
    response = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert response.status_code == 404
    _frame(html)
    assert f"<h1>{heading}</h1>" in html and f'<html lang="{language}">' in html
    assert way in html and 'href="/accounts/start/"' in html
    assert 'href="/keygroups/"' in html and 'href="/dispatch/"' in html


def test_404_of_an_area_outside_is_the_404_of_a_missing_one(client: Client, user_a: Any) -> None:
    client.force_login(user_a)
    outside = client.get(f"/area/{data.TOWN_B}/")
    missing = client.get("/area/999999999999/")
    assert outside.status_code == missing.status_code == 404
    assert outside.content == missing.content  # no CSRF token or path tells them apart
    _frame(outside.content.decode())


def test_anonymous_404_offers_the_login(client: Client, db: None) -> None:
    html = client.get("/no/such/page/").content.decode()
    assert 'href="/accounts/login/"' in html and 'href="/dispatch/"' not in html


@override_settings(ROOT_URLCONF=__name__)
def test_403_in_the_frame(client: Client, user_county: Any) -> None:
    client.force_login(user_county)
    response = client.get("/test-403/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 403
    html = response.content.decode()
    _frame(html)
    assert "<h1>无权访问</h1>" in html


@pytest.mark.parametrize(
    ("language", "heading"), [("zh-hans", "表单已过期"), ("en", "The form has expired")]
)
def test_csrf_failure_in_the_frame(user_county: Any, language: str, heading: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_county)
    response = client.post(
        "/keygroups/register/",
        {"name": "x"},
        HTTP_ACCEPT_LANGUAGE=language,
        HTTP_REFERER="http://testserver/keygroups/register/",
    )
    assert response.status_code == 403
    html = response.content.decode()
    _frame(html)
    assert f"<h1>{heading}</h1>" in html
    assert "CSRF verification failed" not in html
    # The way back is the form the user came from.
    assert 'href="http://testserver/keygroups/register/"' in html


def test_back_link_only_to_this_site(client: Client, user_county: Any) -> None:
    client.force_login(user_county)
    html = client.get("/nope/", HTTP_REFERER="https://evil.example/x").content.decode()
    assert "evil.example" not in html


@override_settings(ROOT_URLCONF=__name__)
def test_500_in_the_frame_without_the_database(db: None) -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/test-500/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 500
    html = response.content.decode()
    _frame(html)
    assert re.search(r"<h1>服务器错误</h1>", html)
