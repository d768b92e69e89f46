"""Scheduling-meeting briefings: issue one (POST), read its metadata, download its file."""

from __future__ import annotations

from typing import Any, Literal

from django.http import FileResponse, Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from ruralwatch.accounts import access
from ruralwatch.api.common import user_of
from ruralwatch.api.schemas import Code, Day, ErrorOut, Id, InvalidOut
from ruralwatch.briefings.access import access_briefing_by_id
from ruralwatch.briefings.models import Briefing
from ruralwatch.briefings.services import BriefingError, file_path, issue_briefing

router = Router(tags=["briefings"])

ERRORS: dict[int, Any] = {401: ErrorOut, 404: ErrorOut, 422: InvalidOut}


class BriefingIn(Schema):
    area: Code = Field(description="The area the briefing covers (in your jurisdiction).")
    date: Day = Field(description="The cycle date the briefing reports on.")
    language: Literal["zh-hans", "en"] = "zh-hans"
    format: Literal["pdf", "html"] = "pdf"


class BriefingOut(Schema):
    id: int
    area: str
    area_name: str
    date: Day
    language: str
    format: str
    issue: int = Field(description="Issue number: one per area and meeting date.")
    revision: int = Field(description="1, then 2, 3 … when the same briefing is issued again.")
    pages: int | None = Field(description="Pages of a PDF (null for HTML).")
    size: int
    sha256: str
    seconds: float = Field(description="Time it took to compose and render.")
    issued_by: str | None
    issued_at: str
    download: str = Field(description="Where to download the file.")


def _out(b: Briefing) -> dict[str, Any]:
    return {
        "id": b.pk,
        "area": b.area_id,
        "area_name": b.area.name,
        "date": b.date,
        "language": b.language,
        "format": b.format,
        "issue": b.issue,
        "revision": b.revision,
        "pages": b.pages,
        "size": b.size,
        "sha256": b.sha256,
        "seconds": b.seconds,
        "issued_by": b.created_by.get_username() if b.created_by else None,
        "issued_at": b.created_at.isoformat(),
        "download": f"/api/briefings/{b.pk}/file",
    }


@router.post("", response={201: BriefingOut, **ERRORS, 403: ErrorOut}, summary="Issue a briefing")
def create(request: HttpRequest, body: BriefingIn) -> Status[dict[str, Any]]:
    """Compose, render and archive the briefing of an area for a date. Every call archives a
    new file: the first of an area and date gets the next issue number, the same language
    and format again a new revision of it."""
    user = user_of(request)
    area = access.access_area_by_code(user, body.area)
    try:
        made = issue_briefing(
            area.code, body.date, language=body.language, fmt=body.format, user=user
        )
    except BriefingError as exc:
        from django.core.exceptions import ValidationError

        raise ValidationError(str(exc)) from exc
    return Status(201, _out(made))


@router.get("/{briefing_id}", response={200: BriefingOut, **ERRORS}, summary="A briefing")
def detail(request: HttpRequest, briefing_id: Id) -> dict[str, Any]:
    """What an archived briefing is: area, date, language, format, issue, pages, SHA-256."""
    return _out(access_briefing_by_id(user_of(request), briefing_id))


@router.get(
    "/{briefing_id}/file",
    response={200: None, **ERRORS},
    summary="Download a briefing",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The archived file, byte for byte as issued.",
                "content": {
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                    "text/html": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
def download(request: HttpRequest, briefing_id: Id) -> FileResponse:
    """The PDF (or HTML) file as it was issued; ``X-Content-SHA256`` carries its digest."""
    briefing = access_briefing_by_id(user_of(request), briefing_id)
    path = file_path(briefing)
    if not path.is_file():
        raise Http404(_("No such briefing."))
    response = FileResponse(
        path.open("rb"),
        content_type=briefing.content_type,
        as_attachment=True,
        filename=briefing.filename,
    )
    response["X-Content-SHA256"] = briefing.sha256
    return response
