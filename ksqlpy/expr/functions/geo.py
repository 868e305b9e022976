"""GEO_DISTANCE (great-circle distance, haversine, as ksqlDB)."""

from __future__ import annotations

import math

from ksqlpy.expr.registry import scalar

_RADIUS = {"KM": 6371.0, "KILOMETER": 6371.0, "KILOMETERS": 6371.0, "KILOMETRE": 6371.0,
           "KILOMETRES": 6371.0, "MI": 3959.0, "MILE": 3959.0, "MILES": 3959.0}


def _geo(lat1, lon1, lat2, lon2, unit="KM"):
    if None in (lat1, lon1, lat2, lon2):
        return None
    r = _RADIUS.get((unit or "KM").upper())
    if r is None:
        raise ValueError("GeoDistance function units parameter must be one of 'MI', 'MILES', "
                         "'MILE', 'KM', 'KILOMETERS', 'KILOMETER', 'KILOMETRE', 'KILOMETRES'")
    for lat in (lat1, lat2):
        if lat < -90 or lat > 90:
            raise ValueError("valid latitude values for GeoDistance function are in the range "
                             "of -90 to 90 decimal degrees")
    for lon in (lon1, lon2):
        if lon < -180 or lon > 180:
            raise ValueError("valid longitude values for GeoDistance function are in the range "
                             "of -180 to +180 decimal degrees")
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


geo = scalar("GEO_DISTANCE", "GEOMETRIC", "The great-circle distance between two points.")
geo.add(["DOUBLE"] * 4, "DOUBLE", lambda c: c.rowwise(_geo))
geo.add(["DOUBLE"] * 4 + ["STRING"], "DOUBLE", lambda c: c.rowwise(_geo, null_on_null=False))
