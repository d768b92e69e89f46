"""Resources in the scoping walk's world: a village clinic in every village, out of stock of
antigen kits and without a doctor, named after its village, so that a gap list or an
allocation that leaked would name a village outside the walker's jurisdiction."""

from __future__ import annotations

import datetime as dt

from ruralwatch.areas.models import Area
from ruralwatch.resources.models import Capacity, Facility, StockReport


def add_clinics(villages: list[str], day: dt.date) -> None:
    for code in villages:
        village = Area.objects.get(code=code)
        fac = Facility.objects.create(
            code=f"vc-{code}", name=f"{village.name}卫生室", kind="village_clinic", area=village
        )
        Capacity.objects.create(facility=fac, as_of=day, doctors=0)
        StockReport.objects.create(facility=fac, item_id="antigen_kit", date=day, on_hand=0)
        StockReport.objects.create(facility=fac, item_id="pulse_oximeter", date=day, on_hand=1)
