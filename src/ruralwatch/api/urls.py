"""``/api/``: the API (its OpenAPI schema at ``openapi.json``, docs at ``docs``) and the
Swagger UI files the docs page loads (no CDN)."""

from django.urls import path

from ruralwatch.api.api import api
from ruralwatch.api.docs import docs_asset

urlpatterns = [
    path("docs/assets/<str:name>", docs_asset, name="api-docs-asset"),
    path("", api.urls),
]
