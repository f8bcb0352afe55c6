import numpy as np
import pandas as pd
import pytest

from spectm import geo
from spectm.data_files import data_path

# Points whose nature is known from maps of western Lake Erie (lat, lon in degrees).
WATER = {
    "WE4": (41.8265, -83.19465),
    "WE13": (41.7429, -83.13655),
    "open lake north of Pelee": (41.90, -82.75),
    "Maumee Bay": (41.72, -83.42),
    "Sandusky Bay": (41.45, -82.85),
}
LAND = {
    "Toledo": (41.65, -83.55),
    "Monroe MI": (41.92, -83.40),
    "Windsor ON": (42.28, -83.00),
    "Essex County ON": (42.15, -82.90),
    "Pelee Island centre": (41.77, -82.66),
    "Genoa OH": (41.518, -83.359),
}


def test_known_water_points_are_water():
    lat, lon = np.array(list(WATER.values())).T
    assert geo.water_mask(lat, lon).all()
    assert not geo.land_mask(lat, lon).any()


@pytest.mark.parametrize("name", sorted(LAND))
def test_known_land_points_are_land(name):
    lat, lon = LAND[name]
    assert bool(geo.land_mask(lat, lon))
    assert not bool(geo.water_mask(lat, lon))


def test_every_glerl_station_is_in_the_lake():
    st = pd.read_csv(data_path("glerl", "glerl_station_coordinates_derived.csv"))
    assert geo.water_mask(st["median_lat"], st["median_lon"]).all()


def test_lake_polygon_has_island_holes_and_plausible_area():
    lake = geo.load_shoreline()
    # Pelee Island, the Bass Islands, Kelleys Island ... are holes, not water
    holes = (
        lake.interiors
        if lake.geom_type == "Polygon"
        else [h for g in lake.geoms for h in g.interiors]
    )
    assert len(holes) >= 5
    # the western basin is ~3,300 km2; in squared degrees at 41.8 N about 0.3-0.6
    assert 0.3 < lake.area < 0.7


def test_mask_is_vectorised_keeps_shape_and_handles_nan():
    lat = np.array([[41.8265, np.nan], [41.65, 41.77]])
    lon = np.array([[-83.19465, -83.2], [-83.55, -82.66]])
    w = geo.water_mask(lat, lon)
    assert w.shape == (2, 2)
    assert w.tolist() == [[True, False], [False, False]]
    np.testing.assert_array_equal(geo.land_mask(lat, lon), ~w)


def test_outside_the_shoreline_extent_is_not_water():
    # east of the clip box (-82.4) the lake goes on, but nothing is known there: not water
    assert not bool(geo.water_mask(41.8, -82.2))


def test_geodesic_km_known_values_and_broadcasting():
    # WGS84: 1 degree of longitude on the equator = 111.3195 km; of latitude at 0 N = 110.574 km
    assert geo.geodesic_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(111.3195, abs=1e-3)
    assert geo.geodesic_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(110.574, abs=1e-3)
    d = geo.geodesic_km(np.array([[41.8], [41.7]]), -83.2, 41.8, np.array([-83.2, -83.1, -83.0]))
    assert d.shape == (2, 3)
    assert d[0, 0] == 0.0
    # 0.1 deg of longitude at 41.8 N is about 8.3 km
    assert d[0, 1] == pytest.approx(8.31, abs=0.02)
    assert np.isnan(geo.geodesic_km(np.nan, 0.0, 0.0, 0.0))


def test_in_bbox_and_validate_bbox():
    box = geo.WESTERN_BASIN_BBOX
    assert geo.in_bbox([41.8, 41.0, np.nan], [-83.0, -83.0, -83.0], box).tolist() == [
        True,
        False,
        False,
    ]
    assert geo.in_bbox(41.3, -83.5, box)  # edges included
    with pytest.raises(ValueError, match="lon_min"):
        geo.validate_bbox((-82.0, 41.3, -83.0, 42.2))
    with pytest.raises(ValueError, match="4 finite"):
        geo.validate_bbox((-82.0, 41.3, -83.0))
