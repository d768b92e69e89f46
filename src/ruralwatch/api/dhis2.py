"""``/api/dataValueSets``: DHIS2's data exchange, as DHIS2 names it.

POST imports a data value set in JSON (``Content-Type: application/json``), CSV
(``application/csv`` or ``text/csv``) or ADX XML (``application/adx+xml``) and answers with an
``importSummary`` shaped like DHIS2's. GET exports (``.json``, ``.csv``, or ADX with
``Accept: application/adx+xml``). See docs/intake.md.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from ruralwatch.accounts import access
from ruralwatch.api.common import user_of
from ruralwatch.api.intake import over_limit, read_body
from ruralwatch.api.schemas import Code, Day, ErrorOut
from ruralwatch.core.problems import ImportRejected
from ruralwatch.intake import dhis2, selectors
from ruralwatch.intake.models import MappingKind

router = Router(tags=["dhis2"])

ADX_TYPE = "application/adx+xml"
CSV_TYPES = ("application/csv", "text/csv")


class ImportParams(Schema):
    idScheme: str = Field("UID", description="UID (uid mappings held as data) or CODE")  # noqa: N815
    dataElementIdScheme: str | None = None  # noqa: N815
    orgUnitIdScheme: str | None = None  # noqa: N815
    dataSetIdScheme: str | None = None  # noqa: N815
    dryRun: bool = False  # noqa: N815
    atomicMode: str = Field("ALL", description="ALL: all or nothing (default); NONE: partial")  # noqa: N815
    importStrategy: str = "CREATE_AND_UPDATE"  # noqa: N815
    firstRowIsHeader: bool = True  # noqa: N815


class ExportParams(Schema):
    # Uids, codes and periods: no spaces or control characters (a NUL byte in a filter was a
    # 500 on PostgreSQL, which refuses it in a query), as every other code the API takes.
    dataSet: list[Code] = Field(default_factory=list, max_length=50)  # noqa: N815
    dataElement: list[Code] = Field(default_factory=list, max_length=200)  # noqa: N815
    period: list[Code] = Field(default_factory=list, max_length=400)
    startDate: Day | None = None  # noqa: N815
    endDate: Day | None = None  # noqa: N815
    orgUnit: list[Code] = Field(default_factory=list, max_length=200)  # noqa: N815
    children: bool = False
    idScheme: str = "UID"  # noqa: N815
    dataElementIdScheme: str | None = None  # noqa: N815
    orgUnitIdScheme: str | None = None  # noqa: N815
    dataSetIdScheme: str | None = None  # noqa: N815


def _options(p: ImportParams | ExportParams) -> dhis2.Options:
    opt = dhis2.Options(
        id_scheme=p.idScheme,
        data_element_id_scheme=p.dataElementIdScheme,
        org_unit_id_scheme=p.orgUnitIdScheme,
        data_set_id_scheme=p.dataSetIdScheme,
    )
    if isinstance(p, ImportParams):
        opt.dry_run = p.dryRun
        opt.atomic_mode = p.atomicMode.upper()
        opt.import_strategy = p.importStrategy.upper()
    return opt


@router.post(
    "/dataValueSets",
    response={
        200: dict[str, Any],
        401: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
        415: ErrorOut,
        422: dict[str, Any],
        429: ErrorOut,
    },
    summary="Import a DHIS2 data value set",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/csv": {"schema": {"type": "string"}},
                ADX_TYPE: {"schema": {"type": "string"}},
            },
        }
    },
)
def import_set(request: HttpRequest, params: Query[ImportParams]) -> Any:
    """DHIS2's ``POST /api/dataValueSets``: JSON, CSV or ADX by ``Content-Type``. Periods
    must be daily (``yyyyMMdd``); identifiers follow ``idScheme`` (UID through the uid
    mappings, or CODE: our area and indicator codes). ``atomicMode=ALL`` (default) stores
    nothing if any value conflicts (422, ``status`` ERROR; DHIS2 says 409); ``NONE`` stores
    the rest and lists the conflicts (``status`` WARNING)."""
    if (refused := over_limit(request)) is not None:
        return refused
    kind = (request.content_type or "").lower()
    body = read_body(request)
    opt = _options(params)
    try:
        if kind == ADX_TYPE or kind in ("application/xml", "text/xml"):
            parsed = dhis2.parse_adx(body)
        elif kind in CSV_TYPES:
            parsed = dhis2.parse_csv(body, first_row_is_header=params.firstRowIsHeader)
        elif kind in ("application/json", ""):
            parsed = dhis2.parse_json(body)
        else:
            return Status(
                415,
                {
                    "detail": _("Send application/json, application/csv or %(adx)s.")
                    % {"adx": ADX_TYPE}
                },
            )
    except ImportRejected as exc:
        conflicts: list[dict[str, Any]] = [
            {"object": "", "value": p.reason, "property": None, "indexes": []} for p in exc.problems
        ]
        status, summary = dhis2.import_summary(0, 0, 0, 0, conflicts, opt, error=True)
        return Status(status, summary)
    user = user_of(request)
    status, summary = dhis2.import_data_values(
        parsed, opt, allowed=access.scope_areas(user), user=user
    )
    return Status(status, summary)


def _export(request: HttpRequest, params: ExportParams, fmt: str) -> HttpResponse:
    if (refused := over_limit(request)) is not None:
        return refused
    opt = _options(params)
    user = user_of(request)
    if opt.scheme("orgUnit") not in dhis2.SCHEMES:
        return JsonResponse({"detail": _("orgUnitIdScheme: use UID or CODE")}, status=422)
    units = (
        params.orgUnit
        if opt.scheme("orgUnit") == "CODE"
        else [selectors.uid_to_code(MappingKind.ORG_UNIT, [u]).get(u, "") for u in params.orgUnit]
    )
    roots = [access.access_area_by_code(user, code) for code in units]
    query = dhis2.ExportQuery(
        data_sets=params.dataSet,
        data_elements=params.dataElement,
        periods=params.period,
        start=params.startDate,
        end=params.endDate,
        org_units=params.orgUnit,
        children=params.children,
        options=opt,
    )
    try:
        frame = dhis2.export_frame(query, roots)
    except dhis2.ExportError as exc:
        return JsonResponse(
            {
                "httpStatus": "Unprocessable Entity",
                "httpStatusCode": 422,
                "status": "ERROR",
                "message": str(exc),
                "detail": str(exc),
            },
            status=422,
        )
    if fmt == "csv":
        return HttpResponse(dhis2.render_csv(frame), content_type="application/csv; charset=utf-8")
    if fmt == "adx":
        return HttpResponse(
            dhis2.render_adx(frame, params.dataSet[0] if params.dataSet else None),
            content_type=ADX_TYPE,
        )
    data = dhis2.render_json(frame)
    if len(params.dataSet) == 1:
        data = {"dataSet": params.dataSet[0], **data}
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


EXPORT_RESPONSES: dict[int, Any] = {
    200: dict[str, Any],
    401: ErrorOut,
    404: ErrorOut,
    422: dict[str, Any],
    429: ErrorOut,
}


@router.get("/dataValueSets", response=EXPORT_RESPONSES, summary="Export a DHIS2 data value set")
def export_set(request: HttpRequest, params: Query[ExportParams]) -> HttpResponse:
    """DHIS2's ``GET /api/dataValueSets``: ``dataSet`` and/or ``dataElement``, ``period``
    (daily, ISO weekly or monthly: a week or month selects its days) or ``startDate`` and
    ``endDate``, ``orgUnit`` and ``children=true`` for the whole subtree. JSON, or ADX with
    ``Accept: application/adx+xml``; ``.csv`` for CSV."""
    accept = request.headers.get("Accept", "")
    fmt = "adx" if ADX_TYPE in accept else "csv" if any(t in accept for t in CSV_TYPES) else "json"
    return _export(request, params, fmt)


@router.get("/dataValueSets.json", response=EXPORT_RESPONSES, summary="Export as JSON")
def export_json(request: HttpRequest, params: Query[ExportParams]) -> HttpResponse:
    """As ``GET /api/dataValueSets``, always JSON."""
    return _export(request, params, "json")


@router.get("/dataValueSets.csv", response=EXPORT_RESPONSES, summary="Export as CSV")
def export_csv(request: HttpRequest, params: Query[ExportParams]) -> HttpResponse:
    """As ``GET /api/dataValueSets``, always CSV (DHIS2's columns, with a header row)."""
    return _export(request, params, "csv")
