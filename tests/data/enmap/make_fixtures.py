"""Write the DLR EOC STAC fixtures of tests/sources/test_enmap_stac.py (python make_fixtures.py).

Handwritten in the shape of the DLR EOC STAC API (https://geoservice.dlr.de/eoc/ogc/stac/v1/,
STAC API 1.0: a landing page with ``conformsTo`` and a ``search`` link; ``FeatureCollection`` search
pages of STAC 1.0.0 items with a ``next`` link) for the collection ``ENMAP_HSI_L2A``. Product
names follow the EnMAP pattern; data-take numbers, times, footprints, asset keys, hrefs (host
``download.geoservice.dlr.de``) and sizes are invented. The spectral image and metadata use the
asset keys ``image`` and ``metadata`` (as the GFZ enmap-downloader reads them); quality layers are
found by their file names.

The two pages deliberately contain: items out of time order (sorting), one item without quality
layers (left out), one item listed on both pages (deduplication), sizes (``file:size``) on the
first item only, and a foreign asset (a quicklook) that is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
API = "https://geoservice.dlr.de/eoc/ogc/stac/v1"
FILES = "https://download.geoservice.dlr.de/ENMAP/files/L2A"
COLLECTION = "ENMAP_HSI_L2A"

PRODUCTS = (
    # name, start, end, bbox, with quality layers, sizes
    (
        "ENMAP01-____L2A-DT0000090001_20240805T162401Z_003_V010502_20240806T101530Z",
        "2024-08-05T16:24:01.250Z",
        "2024-08-05T16:24:05.420Z",
        [-83.45, 41.55, -83.05, 41.85],
        True,
        True,
    ),
    (
        "ENMAP01-____L2A-DT0000088765_20240712T161958Z_002_V010502_20240713T080004Z",
        "2024-07-12T16:19:58.100Z",
        "2024-07-12T16:20:02.300Z",
        [-83.30, 41.45, -82.90, 41.75],
        True,
        False,
    ),
    (
        "ENMAP01-____L2A-DT0000091234_20240820T162733Z_001_V010502_20240821T070000Z",
        "2024-08-20T16:27:33.000Z",
        "2024-08-20T16:27:37.000Z",
        [-83.50, 41.60, -83.10, 41.90],
        False,
        False,
    ),
)
QUALITY = (
    "QL_PIXELMASK",
    "QL_QUALITY_CLOUD",
    "QL_QUALITY_CIRRUS",
    "QL_QUALITY_HAZE",
    "QL_QUALITY_CLOUDSHADOW",
    "QL_QUALITY_SNOW",
)


def item(name, start, end, bbox, with_quality, with_sizes):
    """One STAC item of the EnMAP L2A collection."""
    w, s, e, n = bbox
    base = f"{FILES}/{name[16:28]}/{name}"
    assets = {
        "image": {
            "href": f"{base}/{name}-SPECTRAL_IMAGE.TIF",
            "type": "image/tiff; application=geotiff",
            "roles": ["data"],
        },
        "metadata": {
            "href": f"{base}/{name}-METADATA.XML",
            "type": "application/xml",
            "roles": ["metadata"],
        },
        "quicklook": {
            "href": f"{base}/{name}-QL_VNIR.TIF",
            "type": "image/tiff",
            "roles": ["overview"],
        },
    }
    if with_quality:
        for q in QUALITY:
            assets[q.lower()] = {
                "href": f"{base}/{name}-{q}.TIF",
                "type": "image/tiff; application=geotiff",
                "roles": ["data-mask"],
            }
    if with_sizes:
        for a in assets.values():
            a["file:size"] = 1000  # invented; the test serves other sizes (a size mismatch)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/file/v2.1.0/schema.json"],
        "id": name,
        "collection": COLLECTION,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]],
        },
        "bbox": bbox,
        "properties": {
            "datetime": None,
            "start_datetime": start,
            "end_datetime": end,
            "platform": "EnMAP",
            "instruments": ["HSI"],
            "processing:level": "L2A",
        },
        "links": [
            {"rel": "self", "href": f"{API}/collections/{COLLECTION}/items/{name}"},
            {"rel": "collection", "href": f"{API}/collections/{COLLECTION}"},
        ],
        "assets": assets,
    }


def main():
    """Write the landing page and two search pages."""
    landing = {
        "type": "Catalog",
        "id": "eoc-stac",
        "stac_version": "1.0.0",
        "description": "DLR EOC STAC API (test fixture)",
        "conformsTo": [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        ],
        "links": [
            {"rel": "self", "href": f"{API}/", "type": "application/json"},
            {"rel": "root", "href": f"{API}/", "type": "application/json"},
            {
                "rel": "search",
                "href": f"{API}/search",
                "type": "application/geo+json",
                "method": "GET",
            },
            {
                "rel": "search",
                "href": f"{API}/search",
                "type": "application/geo+json",
                "method": "POST",
            },
        ],
    }
    items = [item(*p) for p in PRODUCTS]
    page1 = {
        "type": "FeatureCollection",
        "features": [items[0], items[2]],
        "links": [
            {
                "rel": "next",
                "href": f"{API}/search?token=page2",
                "type": "application/geo+json",
                "method": "GET",
            },
        ],
        "numberMatched": 4,
        "numberReturned": 2,
    }
    page2 = {
        "type": "FeatureCollection",
        "features": [items[1], items[0]],
        "links": [],
        "numberMatched": 4,
        "numberReturned": 2,
    }
    for name, obj in (
        ("stac_landing.json", landing),
        ("stac_search_page1.json", page1),
        ("stac_search_page2.json", page2),
    ):
        (HERE / name).write_text(json.dumps(obj, indent=1) + "\n")


if __name__ == "__main__":
    main()
