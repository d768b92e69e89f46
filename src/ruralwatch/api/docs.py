"""The interactive API docs (Swagger UI) served without any CDN.

django-ninja's docs page loads Swagger UI from a CDN unless ``ninja`` is an installed app.
Here the page is our own template and the Swagger UI files that ship inside the
django-ninja package are served by :func:`docs_asset`, so the docs work offline. The
online spec validator badge (validator.swagger.io) is switched off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from ninja.openapi.docs import DocsBase

ASSET_DIR = Path(ninja.__file__).parent / "static" / "ninja"
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-init.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


class LocalSwagger(DocsBase):
    settings: dict[str, Any] = {"layout": "BaseLayout", "deepLinking": True, "validatorUrl": None}

    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        config = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        return render(
            request, "api/docs.html", {"api": api, "swagger_settings": json.dumps(config)}
        )


@require_GET
def docs_asset(request: HttpRequest, name: str) -> FileResponse:
    """One of the Swagger UI files bundled with django-ninja (a fixed list, nothing else)."""
    if name not in ASSETS:
        raise Http404(name)
    response = FileResponse((ASSET_DIR / name).open("rb"), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=86400"
    return response
