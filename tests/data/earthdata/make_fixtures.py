"""Write the CMR search fixture for tests/test_pace_earthdata.py (run: python make_fixtures.py).

The records are handwritten in the shape of real CMR ``granules.umm_json`` items for the
PACE_OCI_L2_AOP collection (provider OB_CLOUD), following the UMM-G 1.6 schema: ``meta``
(concept-id, provider-id, ...) and ``umm`` (GranuleUR, TemporalExtent.RangeDateTime,
SpatialExtent GPolygons, DataGranule.ArchiveAndDistributionInformation, RelatedUrls,
CollectionReference). File names and times are those of real granules in the shipped matchup
table (processing version changed to V3_1); sizes, concept ids and footprints are invented.

The page deliberately contains: a granule listed twice (deduplication), granules out of time
order (sorting), one size given exactly (SizeInBytes) and one only rounded in MB, and one record
whose data file is not an L2 AOP file (name filter).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
TEA = "https://obdaac-tea.earthdatacloud.nasa.gov/ob-cumulus-prod-public"
S3 = "s3://ob-cumulus-prod-public"


def granule_item(name, begin, end, concept_id, size_info, *, day_night="Day"):
    """One CMR umm_json item for the file ``name``."""
    return {
        "meta": {
            "concept-type": "granule",
            "concept-id": concept_id,
            "revision-id": 1,
            "native-id": name,
            "collection-concept-id": "C3620140255-OB_CLOUD",
            "provider-id": "OB_CLOUD",
            "format": "application/vnd.nasa.cmr.umm+json",
            "revision-date": "2025-06-01T00:00:00.000Z",
        },
        "umm": {
            "GranuleUR": name,
            "TemporalExtent": {
                "RangeDateTime": {"BeginningDateTime": begin, "EndingDateTime": end}
            },
            "SpatialExtent": {
                "HorizontalSpatialDomain": {
                    "Geometry": {
                        "GPolygons": [
                            {
                                "Boundary": {
                                    "Points": [
                                        {"Longitude": -96.1, "Latitude": 33.2},
                                        {"Longitude": -69.4, "Latitude": 30.9},
                                        {"Longitude": -64.0, "Latitude": 49.8},
                                        {"Longitude": -98.7, "Latitude": 52.6},
                                        {"Longitude": -96.1, "Latitude": 33.2},
                                    ]
                                }
                            }
                        ]
                    }
                }
            },
            "DataGranule": {
                "DayNightFlag": day_night,
                "Identifiers": [{"Identifier": name, "IdentifierType": "ProducerGranuleId"}],
                "ProductionDateTime": "2025-05-30T12:00:00.000Z",
                "ArchiveAndDistributionInformation": [{"Name": name, **size_info}],
            },
            "RelatedUrls": [
                {
                    "URL": f"{TEA}/{name}",
                    "Type": "GET DATA",
                    "Description": f"Download {name}",
                },
                {
                    "URL": f"{S3}/{name}",
                    "Type": "GET DATA VIA DIRECT ACCESS",
                    "Description": "direct download access via S3 to the granule",
                },
                {
                    "URL": f"{TEA}/{name}.dmrpp",
                    "Type": "EXTENDED METADATA",
                    "Description": "OPeNDAP DMR++ sidecar",
                },
                {
                    "URL": "https://obdaac-tea.earthdatacloud.nasa.gov/s3credentials",
                    "Type": "VIEW RELATED INFORMATION",
                    "Description": "temporary credentials for same-region direct S3 access",
                },
            ],
            "CollectionReference": {"ShortName": "PACE_OCI_L2_AOP", "Version": "3.1"},
            "MetadataSpecification": {
                "URL": "https://cdn.earthdata.nasa.gov/umm/granule/v1.6.6",
                "Name": "UMM-G",
                "Version": "1.6.6",
            },
        },
    }


def main():
    may = granule_item(
        "PACE_OCI.20240520T180624.L2.OC_AOP.V3_1.nc",
        "2024-05-20T18:06:24Z",
        "2024-05-20T18:11:23Z",
        "G3300000002-OB_CLOUD",
        {
            "SizeInBytes": 187245319,
            "Size": 178.57,
            "SizeUnit": "MB",
            "Checksum": {"Value": "4a1d6b0e0d5b8f6c3a3b8e1f2c9d7e6a5b4c3d2e", "Algorithm": "SHA-1"},
        },
    )
    march = granule_item(
        "PACE_OCI.20240316T180334.L2.OC_AOP.V3_1.nc",
        "2024-03-16T18:03:34Z",
        "2024-03-16T18:08:33Z",
        "G3300000001-OB_CLOUD",
        {"Size": 164.92, "SizeUnit": "MB"},
    )
    not_aop = granule_item(
        "PACE_OCI.20240521T170256.L2.OC_BGC.V3_1.nc",
        "2024-05-21T17:02:56Z",
        "2024-05-21T17:07:55Z",
        "G3300000003-OB_CLOUD",
        {"SizeInBytes": 60123456},
    )
    items = [may, march, may, not_aop]
    page = {"hits": len(items), "took": 42, "items": items}
    out = HERE / "cmr_granules_pace_oci_l2_aop.json"
    out.write_text(json.dumps(page, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
