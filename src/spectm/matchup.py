"""Satellite–in-situ matchups of samples against PACE OCI chips, with every exclusion recorded.

A sample matches a granule when the granule time is within ``window_days`` of the sample time and
valid pixels lie within ``radius_km`` (geodesic, WGS84) of the sample. The window statistics
follow the SeaBASS validation practice of Bailey & Werdell (2006, Remote Sens. Environ. 102,
12-23): a minimum fraction of valid pixels and a median coefficient of variation (CV) over the
blue-green bands; the spectrum is the per-band median of the valid pixels.

Exclusion reasons, in order of precedence (the first that applies is the sample's reason):

1. ``not_surface`` — the sample's ``depth_category`` is not in ``depth_categories``.
2. ``position_flagged`` — ``position_flag`` is set (> 2 km from the station median) and
   ``drop_position_flagged`` is true.
3. ``no_position`` — neither the sample's ``lat``/``lon`` nor its ``station_lat``/``station_lon``
   are finite (a sample without its own fix is matched at its station median).
4. ``no_granule_in_window`` — no chip time within ``window_days``.
5. ``outside_swath`` — every in-window chip has no pixel at all (valid or not) within the radius.
6. ``all_flagged`` — pixels within the radius, but none valid.
7. ``too_few_valid`` — ``n_valid < min_valid`` or ``valid_frac < min_valid_frac``.
8. ``too_heterogeneous`` — ``cv > max_cv``.

A sample with several in-window chips that all fail gets the reason of the candidate that came
closest to passing (order 5 < 6 < 7 < 8). A sample with several passing chips keeps the one with
the smallest ``|dt|``, then the smallest ``dist_km``, then the granule name; the others stay in
``candidates`` with reason ``duplicate_overpass``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from spectm._io import PathLike, write_parquet
from spectm.config import MatchupConfig
from spectm.geo import geodesic_km
from spectm.io.chips import ChipPixels, load_chip_pixels, read_chip_headers
from spectm.tables import rrs_columns

#: Lower bound on the WGS84 radius of curvature (meridional, at the equator: 6335.44 km). A chord
#: computed with it on the unit sphere of geodetic coordinates bounds every geodesic of that
#: length, so the tree query is a superset that the exact geodesic then trims.
_R_MIN_KM = 6335.0

#: Bailey & Werdell (2006) computed the CV over 412-555 nm (SeaWiFS); with hyperspectral OCI we
#: take every band in this closed window (nm).
CV_WINDOW_NM: tuple[float, float] = (400.0, 570.0)

REASONS: tuple[str, ...] = (
    "matched",
    "not_surface",
    "position_flagged",
    "no_position",
    "no_granule_in_window",
    "outside_swath",
    "all_flagged",
    "too_few_valid",
    "too_heterogeneous",
)
#: Candidate-level outcomes, ranked by how close the candidate came to passing.
_CANDIDATE_RANK = {"outside_swath": 0, "all_flagged": 1, "too_few_valid": 2, "too_heterogeneous": 3}
_REQUIRED_SAMPLE_COLUMNS = (
    "sample_id",
    "site",
    "time_utc",
    "lat",
    "lon",
    "depth_category",
    "position_flag",
    "station_lat",
    "station_lon",
)
#: Per-granule candidate columns, in output order (``_row`` indexes the samples table).
_CAND_STATS = (
    "_row",
    "granule",
    "processing_version",
    "granule_time_utc",
    "dt_hours",
    "match_lat",
    "match_lon",
    "dist_km",
    "n_pixels",
    "n_valid",
    "cv",
)
_MATCH_COLUMNS = (
    "granule",
    "processing_version",
    "granule_time_utc",
    "dt_hours",
    "match_lat",
    "match_lon",
    "dist_km",
    "n_pixels",
    "n_valid",
    "valid_frac",
    "cv",
    "statistic",
)


# --------------------------------------------------------------------------- geometry


def unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Earth-centred unit vectors of geodetic positions, shape ``(n, 3)``."""
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def chord_radius(radius_km: float) -> float:
    """Unit-sphere chord that contains every point within ``radius_km`` geodesic (km)."""
    angle = min(radius_km / _R_MIN_KM, np.pi)
    return float(2.0 * np.sin(angle / 2.0) * (1.0 + 1e-9))


# --------------------------------------------------------------------------- window statistics


_PAD_LIMIT = 20_000_000
"""Largest padded array (groups x largest group x bands) for the sorted grouped median."""


def _group_reduce(values: np.ndarray, groups: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-group reduction of ``(n_rows, n_cols)`` into ``(n, n_cols)``; NaN for empty groups.

    ``how``: ``mean``, ``median`` or ``std`` (``ddof=1``, NaN for a group of one row).
    ``values`` must be finite (the valid pixels of a window).
    """
    out = np.full((n, values.shape[1]), np.nan)
    if not values.shape[0]:
        return out
    order = np.argsort(groups, kind="stable")
    g, v = groups[order], values[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, g.size])
    ids = g[starts]
    if how == "median":
        width = int(counts.max())
        if ids.size * width * v.shape[1] > _PAD_LIMIT:  # big groups: pandas' grouped median
            med = pd.DataFrame(v).groupby(g, sort=True).median()
            out[med.index.to_numpy()] = med.to_numpy(dtype=float)
            return out
        # groups padded with NaN to one width and sorted (NaN last): the middle of each group
        pad = np.full((ids.size, width, v.shape[1]), np.nan)
        slot = np.arange(g.size) - np.repeat(starts, counts)  # position inside the group
        pad[np.repeat(np.arange(ids.size), counts), slot] = v
        pad.sort(axis=1)
        rows = np.arange(ids.size)
        out[ids] = (pad[rows, (counts - 1) // 2] + pad[rows, counts // 2]) / 2
        return out
    mean = np.add.reduceat(v, starts, axis=0) / counts[:, None]
    if how == "mean":
        out[ids] = mean
        return out
    dev = (v - np.repeat(mean, counts, axis=0)) ** 2  # two-pass variance
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.add.reduceat(dev, starts, axis=0) / (counts[:, None] - 1)
    out[ids] = np.where(counts[:, None] > 1, np.sqrt(var), np.nan)
    return out


def _pixels_near(
    pix_lat: np.ndarray, pix_lon: np.ndarray, lat: np.ndarray, lon: np.ndarray, radius_km: float
) -> np.ndarray | None:
    """Pixels that may lie within ``radius_km`` of a query: a superset, or None for all of them.

    On the sphere of radius :data:`_R_MIN_KM` in geodetic coordinates (the one the tree query
    bounds), a point within angle ``theta`` of a query at latitude ``phi`` differs from it by at
    most ``theta`` in latitude and ``asin(sin(theta) / cos(phi))`` in longitude. Cells of those
    sizes (the largest over the queries, plus 1 %) around each query's cell hold every such
    point. None (no cut) near a pole or the antimeridian, where cells would not be a bound.
    """
    theta = radius_km / _R_MIN_KM
    qlat = np.radians(lat)
    cos_max = np.cos(np.abs(qlat)).min() if qlat.size else 1.0
    if not qlat.size or cos_max <= 2.0 * np.sin(theta):
        return None
    d_lat = np.degrees(theta) * 1.01
    d_lon = np.degrees(np.arcsin(np.sin(theta) / cos_max)) * 1.01
    if np.abs(lon).max() > 180.0 - 3 * d_lon:
        return None
    q_lat = np.floor(lat / d_lat).astype(np.int64)
    q_lon = np.floor(lon / d_lon).astype(np.int64)
    lat0, lon0 = q_lat.min() - 1, q_lon.min() - 1  # cells of the queries and their neighbours
    height, width = q_lat.max() + 2 - lat0, q_lon.max() + 2 - lon0
    with np.errstate(invalid="ignore"):  # NaN positions are never inside
        p_lat = np.floor(pix_lat / d_lat) - lat0
        p_lon = np.floor(pix_lon / d_lon) - lon0
        inside = (p_lat >= 0) & (p_lat < height) & (p_lon >= 0) & (p_lon < width)
    idx = np.flatnonzero(inside)
    key = p_lat[idx].astype(np.int64) * width + p_lon[idx].astype(np.int64)
    near = [(q_lat - lat0 + a) * width + (q_lon - lon0 + b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    # numpy picks a lookup table over the key range when it is small (queries close together)
    keep = idx[np.isin(key, np.unique(np.concatenate(near)))]
    return keep


def window_stats(
    chip: ChipPixels,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    radius_km: float,
    statistic: str = "median",
    cv_window_nm: tuple[float, float] = CV_WINDOW_NM,
) -> dict[str, np.ndarray]:
    """Statistics of the chip pixels within ``radius_km`` of each position, all positions at once.

    Args:
        chip: The chip's pixels.
        lat: Query latitudes (deg), shape ``(n,)``.
        lon: Query longitudes (deg), shape ``(n,)``.
        radius_km: Geodesic radius (km), inclusive.
        statistic: ``"median"`` or ``"mean"`` of the valid pixels, per band.
        cv_window_nm: Closed wavelength window (nm) of the CV bands.

    Returns:
        ``n_pixels``, ``n_valid`` (int, ``(n,)``), ``dist_km`` (to the nearest valid pixel, NaN
        when none), ``cv`` (median over the CV bands of std(ddof=1)/|mean| over the valid pixels,
        NaN when fewer than 2), and ``rrs`` (sr-1, ``(n, n_bands)``).

    """
    n = len(lat)
    wl = chip.header.wavelength
    cv_bands = (wl >= cv_window_nm[0]) & (wl <= cv_window_nm[1])
    if not cv_bands.any():
        raise ValueError(f"{chip.header.path}: no wavelength in the CV window {cv_window_nm} nm")
    # the tree holds only the pixels that can be near a query (its build dominates otherwise)
    near = _pixels_near(chip.lat, chip.lon, lat, lon, radius_km)
    cand = np.arange(chip.lat.size) if near is None else near
    tree = cKDTree(unit_vectors(chip.lat[cand], chip.lon[cand]), balanced_tree=False)
    hits = tree.query_ball_point(
        unit_vectors(lat, lon), r=chord_radius(radius_km), return_sorted=False
    )
    counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=n)
    pix = cand[
        np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])
        if counts.sum()
        else np.zeros(0, np.int64)
    ]
    qry = np.repeat(np.arange(n), counts)
    dist = geodesic_km(lat[qry], lon[qry], chip.lat[pix], chip.lon[pix])
    inside = dist <= radius_km
    qry, pix, dist = qry[inside], pix[inside], dist[inside]
    ok = chip.valid[pix]
    qv, pv, dv = qry[ok], pix[ok], dist[ok]
    n_pixels = np.bincount(qry, minlength=n)
    n_valid = np.bincount(qv, minlength=n)
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, qv, dv)
    nearest[n_valid == 0] = np.nan

    values = chip.rrs[pv].astype(float)
    rrs = _group_reduce(values, qv, n, statistic)
    std = _group_reduce(values[:, cv_bands], qv, n, "std")
    mean = _group_reduce(values[:, cv_bands], qv, n, "mean")
    cv = np.full(n, np.nan)
    multi = n_valid >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        cv[multi] = np.median(std[multi] / np.abs(mean[multi]), axis=1)
    return {"n_pixels": n_pixels, "n_valid": n_valid, "dist_km": nearest, "cv": cv, "rrs": rrs}


# --------------------------------------------------------------------------- matchups


@dataclass
class MatchupResult:
    """Matchup tables.

    Attributes:
        matchups: One row per matched sample: the sample's columns, then ``granule``,
            ``processing_version``, ``granule_time_utc``, ``dt_hours`` (granule − sample),
            ``match_lat``/``match_lon`` (position used, deg), ``dist_km``, ``n_pixels``,
            ``n_valid``, ``valid_frac``, ``cv``, ``statistic`` and ``Rrs_<nm>`` (sr-1).
        candidates: One row per sample × in-window granule with the same statistics and
            ``passed``, ``selected`` and ``reason``.
        exclusions: Every input sample exactly once: ``sample_id``, ``site``, ``time_utc``,
            ``status`` (matched | excluded), ``reason`` (see module docstring), ``n_candidates``.
        params: The matching parameters.

    """

    matchups: pd.DataFrame
    candidates: pd.DataFrame
    exclusions: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _utc_ns(col: pd.Series, name: str) -> np.ndarray:
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"samples column '{name}' must be timezone-aware UTC datetimes, got {col.dtype}"
        )
    return col.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()


def _check_samples(samples: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED_SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"samples table lacks column(s) {missing}")
    dup = samples["sample_id"][samples["sample_id"].duplicated()]
    if len(dup):
        raise ValueError(f"samples column 'sample_id' has duplicates, e.g. {dup.iloc[0]!r}")
    clash = [c for c in samples.columns if c in _MATCH_COLUMNS or str(c).startswith("Rrs_")]
    if clash:
        raise ValueError(f"samples table already has matchup output column(s) {clash}")


def match_samples(
    samples: pd.DataFrame,
    chip_paths: Sequence[PathLike],
    cfg: MatchupConfig,
    *,
    min_valid: int = 1,
    statistic: str = "median",
    cv_window_nm: tuple[float, float] = CV_WINDOW_NM,
) -> MatchupResult:
    """Match in-situ samples to chips and record why every other sample did not match.

    Args:
        samples: Samples table (one row per sample, see the samples contract).
        chip_paths: Chip NetCDF files (one granule each).
        cfg: The ``matchup`` settings: ``window_days`` (half-width of the time window, days,
            inclusive: ``|granule − sample|``), ``radius_km`` (geodesic search radius, km,
            inclusive), ``depth_categories`` (what a satellite sees), ``min_valid_frac`` (minimum
            ``n_valid / n_pixels`` in the radius, inclusive), ``max_cv`` (maximum median CV over
            ``cv_window_nm``, inclusive; not tested when ``n_valid < 2``) and
            ``drop_position_flagged`` (exclude samples whose ``position_flag`` is set).
        min_valid: Minimum number of valid pixels.
        statistic: Per-band ``"median"`` or ``"mean"`` of the valid pixels.
        cv_window_nm: Closed wavelength window (nm) of the CV bands.

    Returns:
        The matchup, candidate and exclusion tables.

    Raises:
        ValueError: on a missing column, duplicate ``sample_id``, bad parameter or bad chip.

    """
    window_days, radius_km = cfg.window_days, cfg.radius_km
    min_valid_frac, max_cv = cfg.min_valid_frac, cfg.max_cv
    depth_categories, drop_position_flagged = cfg.depth_categories, cfg.drop_position_flagged
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    if window_days < 0 or radius_km <= 0 or not 0 <= min_valid_frac <= 1 or min_valid < 1:
        raise ValueError(
            "need window_days >= 0, radius_km > 0, 0 <= min_valid_frac <= 1, min_valid >= 1"
        )
    _check_samples(samples)
    smp = samples.reset_index(drop=True)
    n = len(smp)
    reason, lat, lon = _prefilter(smp, depth_categories, drop_position_flagged)
    eligible = np.flatnonzero(reason == "")
    times = smp["time_utc"].iloc[eligible]
    if times.isna().any():
        bad = smp["sample_id"].iloc[eligible[times.isna().to_numpy()][0]]
        raise ValueError(f"samples column 'time_utc' is missing for sample_id {bad!r}")
    t_ns = np.zeros(n, dtype=np.int64)
    t_ns[eligible] = _utc_ns(times, "time_utc")

    headers = read_chip_headers(chip_paths)
    wl = headers[0].wavelength if headers else np.zeros(0)
    window_ns = round(window_days * 86400e9)
    frames: list[pd.DataFrame] = []
    for h in headers:
        dt_ns = h.time_utc.value - t_ns[eligible]
        idx = eligible[np.abs(dt_ns) <= window_ns]
        if idx.size == 0:
            continue
        chip = load_chip_pixels(h.path)
        st = window_stats(
            chip,
            lat[idx],
            lon[idx],
            radius_km=radius_km,
            statistic=statistic,
            cv_window_nm=cv_window_nm,
        )
        frame = pd.DataFrame(
            {
                "_row": idx,
                "granule": h.granule,
                "processing_version": h.processing_version,
                "granule_time_utc": np.full(idx.size, h.time_utc.value, dtype=np.int64),
                "dt_hours": (h.time_utc.value - t_ns[idx]) / 3.6e12,
                "match_lat": lat[idx],
                "match_lon": lon[idx],
                "dist_km": st["dist_km"],
                "n_pixels": st["n_pixels"],
                "n_valid": st["n_valid"],
                "cv": st["cv"],
            }
        )
        rrs = pd.DataFrame(st["rrs"].astype(np.float32), columns=rrs_columns(wl))
        frames.append(pd.concat([frame, rrs], axis=1))
    cand = _finish_candidates(frames, wl, statistic, min_valid, min_valid_frac, max_cv)

    sel = cand[cand["selected"]]
    _resolve_reasons(reason, cand)

    n_cand = np.bincount(cand["_row"].to_numpy(dtype=np.int64), minlength=n)
    exclusions = smp[["sample_id", "site", "time_utc"]].copy()
    exclusions["status"] = np.where(reason == "matched", "matched", "excluded")
    exclusions["reason"] = reason.astype(str)
    exclusions["n_candidates"] = n_cand
    match_cols = [c for c in cand.columns if c in _MATCH_COLUMNS or c.startswith("Rrs_")]
    sel = sel.sort_values("_row")
    matchups = pd.concat(
        [
            smp.iloc[sel["_row"].to_numpy()].reset_index(drop=True),
            sel[match_cols].reset_index(drop=True),
        ],
        axis=1,
    )
    ids = (
        smp[["sample_id", "site", "time_utc"]].iloc[cand["_row"].to_numpy()].reset_index(drop=True)
    )
    candidates = pd.concat([ids, cand.drop(columns="_row").reset_index(drop=True)], axis=1)
    params = {
        "window_days": window_days,
        "radius_km": radius_km,
        "depth_categories": list(depth_categories),
        "min_valid_frac": min_valid_frac,
        "max_cv": max_cv,
        "min_valid": min_valid,
        "statistic": statistic,
        "drop_position_flagged": drop_position_flagged,
        "cv_window_nm": list(cv_window_nm),
        "n_chips": len(headers),
    }
    return MatchupResult(
        matchups=matchups, candidates=candidates, exclusions=exclusions, params=params
    )


def _prefilter(
    smp: pd.DataFrame, depth_categories: Sequence[str], drop_position_flagged: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reasons 1-3 of the precedence ('' where none applies) and the positions to match (deg).

    A sample without its own finite ``lat``/``lon`` is matched at its station median.
    """
    reason = np.full(len(smp), "", dtype=object)
    reason[~smp["depth_category"].isin(list(depth_categories)).to_numpy()] = "not_surface"
    flagged = smp["position_flag"].fillna(False).astype(bool).to_numpy()
    if drop_position_flagged:
        reason[(reason == "") & flagged] = "position_flagged"
    lat = smp["lat"].to_numpy(dtype=float).copy()
    lon = smp["lon"].to_numpy(dtype=float).copy()
    own = np.isfinite(lat) & np.isfinite(lon)
    lat[~own] = smp["station_lat"].to_numpy(dtype=float)[~own]
    lon[~own] = smp["station_lon"].to_numpy(dtype=float)[~own]
    reason[(reason == "") & ~(np.isfinite(lat) & np.isfinite(lon))] = "no_position"
    return reason, lat, lon


def _resolve_reasons(reason: np.ndarray, cand: pd.DataFrame) -> None:
    """Fill the sample reasons left empty: matched, best failing candidate, or no granule."""
    reason[cand.loc[cand["selected"], "_row"].to_numpy(dtype=np.int64)] = "matched"
    failed = cand[~cand["passed"]]
    if len(failed):
        rank = failed["reason"].map(_CANDIDATE_RANK).to_numpy()
        best = pd.Series(rank).groupby(failed["_row"].to_numpy()).max()
        rows = best.index.to_numpy()
        keep = reason[rows] == ""
        inv = {v: k for k, v in _CANDIDATE_RANK.items()}
        reason[rows[keep]] = [inv[int(r)] for r in best.to_numpy()[keep]]
    reason[reason == ""] = "no_granule_in_window"


def _finish_candidates(
    frames: list[pd.DataFrame],
    wl: np.ndarray,
    statistic: str,
    min_valid: int,
    min_valid_frac: float,
    max_cv: float,
) -> pd.DataFrame:
    """Concatenate per-granule candidates, set ``passed``/``reason`` and select one per sample."""
    rrs_cols = rrs_columns(wl)
    if frames:
        cand = pd.concat(frames, ignore_index=True)
    else:
        cand = pd.DataFrame({c: pd.Series(dtype=float) for c in [*_CAND_STATS, *rrs_cols]})
        ints = {c: np.int64 for c in ("_row", "granule_time_utc", "n_pixels", "n_valid")}
        cand = cand.astype({**ints, "granule": str, "processing_version": str})
    cand["granule_time_utc"] = pd.to_datetime(
        cand["granule_time_utc"].to_numpy(np.int64), unit="ns", utc=True
    )  # unit: an empty table would get seconds (pandas 3 infers the unit)
    n_pix = cand["n_pixels"].to_numpy()
    n_val = cand["n_valid"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(n_pix > 0, n_val / np.maximum(n_pix, 1), np.nan)
    cv = cand["cv"].to_numpy()
    reason = np.full(len(cand), "passed", dtype=object)
    reason[cv > max_cv] = "too_heterogeneous"  # NaN (fewer than 2 valid pixels) is not tested
    reason[(n_val < min_valid) | (frac < min_valid_frac - 1e-12)] = "too_few_valid"
    reason[n_val == 0] = "all_flagged"
    reason[n_pix == 0] = "outside_swath"
    passed = reason == "passed"
    order = (
        cand.assign(_abs_dt=cand["dt_hours"].abs())[passed]
        .sort_values(["_row", "_abs_dt", "dist_km", "granule"])
        .drop_duplicates("_row")
        .index
    )
    selected = np.zeros(len(cand), dtype=bool)
    selected[order] = True
    reason[passed & selected] = "matched"
    reason[passed & ~selected] = "duplicate_overpass"
    cand["valid_frac"] = frac
    cand["statistic"] = statistic
    cand["passed"] = passed
    cand["selected"] = selected
    cand["reason"] = reason.astype(str)
    head = [*_CAND_STATS[:10], "valid_frac", "cv", "statistic", "passed", "selected", "reason"]
    return cand[head + rrs_cols]


def write_matchups(
    result: MatchupResult,
    matchups_path: PathLike,
    candidates_path: PathLike,
    exclusions_path: PathLike,
) -> None:
    """Write the three matchup tables as Parquet, each atomically."""
    write_parquet(result.matchups, matchups_path)
    write_parquet(result.candidates, candidates_path)
    write_parquet(result.exclusions, exclusions_path)
