"""Geography of the study area: the western Lake Erie water mask, bounding boxes, distances.

The shoreline shipped with the package (``data/geo/lake_erie_western_basin_shoreline.shp``, NOAA
Medium-Resolution Shoreline clip, see ``data/SOURCES.md``) is a set of POLYLINES in geographic
degrees (no ``.prj``; NAD83/WGS84). The lines are polygonised together with the boundary of their
clip box; the faces that contain a GLERL station are the lake (western basin, Detroit River mouth
included) and every other face is land (mainland, Pelee Island, the Bass Islands, inland ponds).

Outside the shoreline's extent nothing is known: such points are reported as land (not lake).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np
import pandas as pd
import shapefile
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely.geometry import LineString, Polygon, box
from shapely.ops import polygonize, unary_union

from spectm.data_files import data_path

#: (lon_min, lat_min, lon_max, lat_max) in degrees: the western-basin AOI used by the real
#: matchup extraction (``data/SOURCES.md``: "each L2 granule was clipped to bbox ...").
WESTERN_BASIN_BBOX: tuple[float, float, float, float] = (-83.5, 41.3, -82.45, 42.2)

_GEOD = Geod(ellps="WGS84")


def validate_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """Check a bounding box and return it as a float tuple.

    Args:
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.

    Returns:
        The same four numbers as floats.

    Raises:
        ValueError: if it is not four finite numbers with min < max inside valid degree ranges.
    """
    values = tuple(float(v) for v in bbox)
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(
            f"bbox must be 4 finite numbers (lon_min, lat_min, lon_max, lat_max): {bbox}"
        )
    lon_min, lat_min, lon_max, lat_max = values
    if not (-180 <= lon_min < lon_max <= 180 and -90 <= lat_min < lat_max <= 90):
        raise ValueError(
            f"bbox must satisfy -180<=lon_min<lon_max<=180 and -90<=lat_min<lat_max<=90: {bbox}"
        )
    return lon_min, lat_min, lon_max, lat_max


def in_bbox(lat: ArrayLike, lon: ArrayLike, bbox: Sequence[float]) -> NDArray[np.bool_]:
    """Boolean mask of points inside a bbox (edges included).

    Args:
        lat: Latitudes (deg), any shape.
        lon: Longitudes (deg), same shape as ``lat``.
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.

    Returns:
        Boolean array of the broadcast shape; NaN coordinates are outside.
    """
    lon_min, lat_min, lon_max, lat_max = validate_bbox(bbox)
    la = np.asarray(lat, dtype=float)
    lo = np.asarray(lon, dtype=float)
    return (la >= lat_min) & (la <= lat_max) & (lo >= lon_min) & (lo <= lon_max)


def geodesic_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> NDArray:
    """Geodesic distance on the WGS84 ellipsoid, vectorised with numpy broadcasting.

    Args:
        lat1: Latitudes of the first points (deg).
        lon1: Longitudes of the first points (deg).
        lat2: Latitudes of the second points (deg).
        lon2: Longitudes of the second points (deg).

    Returns:
        Distances in km, float64, with the broadcast shape of the inputs (NaN where any is NaN).
    """
    a_lat, a_lon, b_lat, b_lon = np.broadcast_arrays(
        np.asarray(lat1, dtype=float),
        np.asarray(lon1, dtype=float),
        np.asarray(lat2, dtype=float),
        np.asarray(lon2, dtype=float),
    )
    out = np.full(a_lat.shape, np.nan)
    ok = np.isfinite(a_lat) & np.isfinite(a_lon) & np.isfinite(b_lat) & np.isfinite(b_lon)
    if ok.any():
        _, _, dist_m = _GEOD.inv(a_lon[ok], a_lat[ok], b_lon[ok], b_lat[ok])
        out[ok] = np.asarray(dist_m) / 1000.0
    return out


def _shoreline_lines(path: str) -> tuple[list[LineString], tuple[float, float, float, float]]:
    """Read every polyline part of a shapefile as a LineString, with the file's bbox."""
    try:
        reader = shapefile.Reader(path)
    except Exception as err:  # pyshp raises several types for unreadable files
        raise ValueError(f"cannot read shoreline shapefile {path}: {err}") from err
    with reader:
        if reader.shapeType not in (shapefile.POLYLINE, shapefile.POLYLINEZ, shapefile.POLYLINEM):
            raise ValueError(f"{path}: expected POLYLINE shapes, got shape type {reader.shapeType}")
        lines: list[LineString] = []
        for shape in reader.iterShapes():
            points = np.asarray(shape.points, dtype=float)
            starts = [*list(shape.parts), len(points)]
            for i0, i1 in pairwise(starts):
                if i1 - i0 >= 2:
                    lines.append(LineString(points[i0:i1, :2]))
        xmin, ymin, xmax, ymax = (float(v) for v in reader.bbox)
    if not lines:
        raise ValueError(f"{path}: no polyline with two or more vertices")
    return lines, (xmin, ymin, xmax, ymax)


def _water_seeds() -> pd.DataFrame:
    """GLERL station median positions (deg): points known to lie in the lake."""
    stations = pd.read_csv(data_path("glerl", "glerl_station_coordinates_derived.csv"))
    return stations[["station", "median_lat", "median_lon"]]


@cache
def load_shoreline() -> Polygon | shapely.MultiPolygon:
    """Build the western-basin lake polygon from the shipped shoreline polylines.

    The lines are polygonised together with the ring of their clip box (lines that end on the box
    edge are closed against it). Faces that contain a GLERL station position are water; their
    union (islands stay as holes) is returned.

    Returns:
        The lake (water) polygon in (lon, lat) degrees.

    Raises:
        ValueError: if the shapefile cannot be read or no face contains a station.
    """
    path = str(data_path("geo", "lake_erie_western_basin_shoreline.shp"))
    lines, (xmin, ymin, xmax, ymax) = _shoreline_lines(path)
    frame = box(xmin, ymin, xmax, ymax).exterior
    noded = unary_union([*lines, frame])
    faces = list(polygonize(noded))
    seeds = _water_seeds()
    water = [
        f
        for f in faces
        if shapely.contains_xy(
            f, seeds["median_lon"].to_numpy(), seeds["median_lat"].to_numpy()
        ).any()
    ]
    if not water:
        raise ValueError(
            f"{path}: no polygonised face contains a GLERL station; cannot find the lake"
        )
    lake = unary_union(water)
    if not isinstance(lake, Polygon | shapely.MultiPolygon):
        raise ValueError(f"{path}: polygonised lake is not a polygon ({lake.geom_type})")
    shapely.prepare(lake)
    return lake


def water_mask(lat: ArrayLike, lon: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies in the western-basin lake polygon (vectorised).

    Args:
        lat: Latitudes (deg), any shape.
        lon: Longitudes (deg), same shape as ``lat``.

    Returns:
        Boolean array of the broadcast shape; NaN coordinates and points outside the shoreline's
        extent are False.
    """
    la, lo = np.broadcast_arrays(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
    ok = np.isfinite(la) & np.isfinite(lo)
    out = np.zeros(la.shape, dtype=bool)
    out[ok] = shapely.contains_xy(load_shoreline(), lo[ok], la[ok])
    return out


def land_mask(lat: ArrayLike, lon: ArrayLike) -> NDArray[np.bool_]:
    """True where a point is not lake water (land, islands, or outside the shoreline's extent).

    Args:
        lat: Latitudes (deg), any shape.
        lon: Longitudes (deg), same shape as ``lat``.

    Returns:
        Boolean array of the broadcast shape, the complement of :func:`water_mask`.
    """
    return ~water_mask(lat, lon)


@dataclass(frozen=True)
class RegularGrid:
    """A regular latitude/longitude grid (EPSG:4326) laid over a swath, cell by cell.

    Attributes:
        lat: Cell-centre latitudes (deg), north to south, shape (ny,).
        lon: Cell-centre longitudes (deg), west to east, shape (nx,).
        step_lat: Cell height (deg).
        step_lon: Cell width (deg).
        index: Flat (y-major) index of the swath pixel whose centre is nearest to each cell
            centre, -1 where no pixel centre lies within the maximum distance, shape (ny, nx).

    """

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    step_lat: float
    step_lon: float
    index: NDArray[np.intp]

    @property
    def west(self) -> float:
        """Western edge of the grid (deg)."""
        return float(self.lon[0] - self.step_lon / 2)

    @property
    def north(self) -> float:
        """Northern edge of the grid (deg)."""
        return float(self.lat[0] + self.step_lat / 2)


MAX_GRID_CELLS = 25_000_000
"""Largest regular grid :func:`swath_to_regular_grid` builds (a guard against bad coordinates)."""


def swath_to_regular_grid(
    lat: ArrayLike, lon: ArrayLike, *, max_dist_pixels: float = 1.0
) -> RegularGrid:
    """Nearest-neighbour lookup from a regular lat/lon grid to a swath's pixel centres.

    Distances are measured in a local equirectangular plane (longitude scaled by the cosine of the
    swath's mean latitude), in which the cells are square: the cell size is the swath's pixel size,
    the median distance between a pixel centre and its nearest neighbour. Each cell takes the
    nearest pixel centre (scipy ``cKDTree``) within ``max_dist_pixels`` pixel sizes, so the grid
    is empty outside the swath. Not for swaths that cross the antimeridian or reach a pole.

    Args:
        lat: Pixel-centre latitudes (deg), any shape (flattened y-major).
        lon: Pixel-centre longitudes (deg), same shape as ``lat``.
        max_dist_pixels: Largest cell-to-pixel distance, in pixel sizes.

    Returns:
        The grid, spanning the swath's pixel centres from the north-west one.

    Raises:
        ValueError: if the coordinates are not finite, the swath has fewer than two distinct
            pixel centres, or the grid would exceed :data:`MAX_GRID_CELLS`.

    """
    from scipy.spatial import cKDTree

    la = np.asarray(lat, dtype=float).ravel()
    lo = np.asarray(lon, dtype=float).ravel()
    if la.shape != lo.shape or not (np.isfinite(la).all() and np.isfinite(lo).all()):
        raise ValueError("swath lat/lon must have the same shape and be finite everywhere")
    if la.size < 2:
        raise ValueError(f"swath has {la.size} pixel(s); a regular grid needs at least two")
    scale = float(np.cos(np.radians(la.mean())))
    points = np.column_stack([lo * scale, la])
    tree = cKDTree(points)
    nn = tree.query(points, k=2)[0][:, 1]
    nn = nn[nn > 0]
    if nn.size == 0:
        raise ValueError("swath pixel centres all coincide; cannot infer the pixel size")
    step_lat = float(np.median(nn))
    step_lon = step_lat / scale
    ny = int(np.floor((la.max() - la.min()) / step_lat + 0.5)) + 1
    nx = int(np.floor((lo.max() - lo.min()) / step_lon + 0.5)) + 1
    if ny * nx > MAX_GRID_CELLS:
        raise ValueError(
            f"a {ny} x {nx} grid at {step_lat:.3g} deg would exceed {MAX_GRID_CELLS} cells; "
            "check the swath coordinates"
        )
    grid_lat = la.max() - step_lat * np.arange(ny)
    grid_lon = lo.min() + step_lon * np.arange(nx)
    glat, glon = np.meshgrid(grid_lat, grid_lon, indexing="ij")
    _, idx = tree.query(
        np.column_stack([glon.ravel() * scale, glat.ravel()]),
        distance_upper_bound=max_dist_pixels * step_lat,
    )
    index = np.where(idx < la.size, idx, -1).astype(np.intp).reshape(ny, nx)
    return RegularGrid(grid_lat, grid_lon, step_lat, step_lon, index)
