"""Small division lists that several test modules import (``areas.services.import_areas``)."""

from __future__ import annotations

#: A province, prefecture, county and one township with two villages (codes 99…, which no
#: real division uses).
ONE_TOWNSHIP = """code,name,level,parent_code
990000000000,示范省,1,
990100000000,示范市,2,990000000000
990101000000,示范县,3,990100000000
990101001000,东镇,4,990101000000
990101001001,东一村,5,990101001000
990101001002,东二村,5,990101001000
"""
