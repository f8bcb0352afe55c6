"""Temporal pairs (t, t + lead): labelled station pairs and unlabelled pixel pairs.

Labelled pairs tie a spectrum observed at a station at time ``t`` to the surface sample taken at
the same station closest to ``t + lead`` within ``± tolerance`` (8-day-ahead fine-tuning). Pixel
pairs tie a valid pixel of one chip to the nearest valid pixel of a chip ``lead ± tolerance``
later (the temporal-prediction pretext task). Both require ``tolerance < lead`` so that the label
or future pixel is always strictly after ``t``.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from spectm._io import PathLike, write_parquet
from spectm.config import PairsConfig
from spectm.geo import geodesic_km
from spectm.io.chips import ChipHeader, ChipPixels, load_chip_pixels, read_chip_headers
from spectm.matchup import chord_radius, unit_vectors
from spectm.tables import find_rrs_columns, rrs_columns

#: Spectrum-table columns carried into labelled pairs when present.
_CARRY = ("granule", "lat", "lon", "stress_test")
_LABELLED_REQUIRED = ("pair_id", "station", "time_utc", "label_time_utc", "lead_hours")
_PIXEL_REQUIRED = ("granule_t", "granule_t8", "lat", "lon", "lead_hours", "dist_km")


def _check_lead(lead_days: float, tolerance_days: float) -> None:
    if not 0 <= tolerance_days < lead_days:
        raise ValueError(f"need 0 <= tolerance_days < lead_days, got {tolerance_days}, {lead_days}")


def _pick(df: pd.DataFrame, candidates: Sequence[str], what: str, given: str | None) -> str:
    if given is not None:
        if given not in df.columns:
            raise ValueError(f"spectra table has no {what} column '{given}'")
        return given
    for c in candidates:
        if c in df.columns:
            return c
    raise ValueError(f"spectra table needs a {what} column, one of {list(candidates)}")


def _utc(col: pd.Series, table: str, name: str) -> pd.Series:
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{table} column '{name}' must be timezone-aware (UTC), got {col.dtype}")
    return col.dt.tz_convert("UTC").dt.as_unit("ns")


def labelled_pairs(
    spectra: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    lead_days: float,
    tolerance_days: float,
    depth_categories: Sequence[str],
    label: str = "particulate_microcystin_ugL",
    station_column: str | None = None,
    time_column: str | None = None,
) -> pd.DataFrame:
    """Pair each station spectrum at ``t`` with the sample at the same station near ``t + lead``.

    Among the samples at the same station (``samples.site == station``), in ``depth_categories``,
    with a label value or a censored label, and with time in ``[t + lead − tol, t + lead + tol]``
    (inclusive), the one closest to ``t + lead`` is taken; ties go to the earlier sample, then
    the smaller ``sample_id``. Spectra without such a sample give no pair.

    Args:
        spectra: One spectrum per row: a station column (``station`` or ``site``), a UTC time
            column (``time_utc`` or ``granule_time_utc``) and ``Rrs_<nm>`` (sr-1).
        samples: Samples table (``sample_id``, ``site``, ``time_utc``, ``depth_category``,
            ``<label>``, ``<label>_censored``, ``<label>_dl``).
        lead_days: Target lead time (days).
        tolerance_days: Accepted deviation from the lead (days), ``< lead_days``.
        label: Label column of ``samples``.
        depth_categories: Depth categories accepted for the label sample.
        station_column: Station column of ``spectra`` (default: ``station``, else ``site``).
        time_column: Time column of ``spectra`` (default: ``time_utc``, else
            ``granule_time_utc``).

    Returns:
        One row per pair: ``pair_id``, ``station``, ``time_utc`` (spectrum), ``label_time_utc``,
        ``lead_hours`` (label − spectrum), ``label_sample_id``, ``label_depth_category``,
        ``<label>``, ``<label>_censored``, ``<label>_dl``, the carried columns ``granule``,
        ``lat``, ``lon``, ``stress_test`` when present, and ``Rrs_<nm>``.

    Raises:
        ValueError: naming the missing column or the bad parameter.

    """
    _check_lead(lead_days, tolerance_days)
    st_col = _pick(spectra, ("station", "site"), "station", station_column)
    t_col = _pick(spectra, ("time_utc", "granule_time_utc"), "time", time_column)
    rrs_cols, _ = find_rrs_columns(spectra)
    lab = [label, f"{label}_censored", f"{label}_dl"]
    need = ["sample_id", "site", "time_utc", "depth_category", *lab]
    missing = [c for c in need if c not in samples.columns]
    if missing:
        raise ValueError(f"samples table lacks column(s) {missing}")

    spec = pd.DataFrame(
        {
            "_spec": np.arange(len(spectra)),
            "station": spectra[st_col].astype(str).to_numpy(),
            "time_utc": _utc(spectra[t_col], "spectra", t_col).to_numpy(),
        }
    )
    smp = samples[need].copy()
    smp["time_utc"] = _utc(smp["time_utc"], "samples", "time_utc")
    censored = smp[lab[1]].fillna(False).astype(bool)
    usable = smp["depth_category"].isin(list(depth_categories)) & (smp[label].notna() | censored)
    smp = smp[usable & smp["time_utc"].notna()].rename(
        columns={"site": "station", "time_utc": "label_time_utc", "sample_id": "label_sample_id"}
    )
    smp["station"] = smp["station"].astype(str)
    smp = smp.rename(columns={"depth_category": "label_depth_category"})

    spec = spec[spec["time_utc"].notna().to_numpy()]
    both = spec.merge(smp, on="station", how="inner")
    gap_ns = both["label_time_utc"].astype("int64") - both["time_utc"].astype("int64")
    off = (gap_ns - round(lead_days * 86400e9)).abs()
    both["_off"] = off.to_numpy()
    both = both[(off <= round(tolerance_days * 86400e9)).to_numpy()]
    both = both.sort_values(["_spec", "_off", "label_time_utc", "label_sample_id"])
    both = both.drop_duplicates("_spec").sort_values("_spec").reset_index(drop=True)

    out = both[["station", "time_utc", "label_time_utc"]].copy()
    out.insert(0, "pair_id", [f"pair{k:06d}" for k in range(len(out))])
    out["lead_hours"] = (out["label_time_utc"] - out["time_utc"]).dt.total_seconds() / 3600.0
    out["label_sample_id"] = both["label_sample_id"].to_numpy()
    out["label_depth_category"] = both["label_depth_category"].to_numpy()
    for c in lab:
        out[c] = both[c].to_numpy()
    out[lab[1]] = out[lab[1]].fillna(False).astype(bool)
    src = spectra.iloc[both["_spec"].to_numpy(dtype=np.int64)].reset_index(drop=True)
    for c in _CARRY:
        if c in spectra.columns and c not in out.columns:
            out[c] = src[c].to_numpy()
    return pd.concat([out, src[rrs_cols]], axis=1)


class _ChipCache:
    """A small least-recently-used cache of loaded chips (bounded memory)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[ChipPixels, np.ndarray, cKDTree]] = OrderedDict()

    def get(self, header: ChipHeader) -> tuple[ChipPixels, np.ndarray, cKDTree]:
        key = str(header.path)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        chip = load_chip_pixels(header.path)
        valid_idx = np.flatnonzero(chip.valid)
        tree = cKDTree(unit_vectors(chip.lat[valid_idx], chip.lon[valid_idx]))
        self._items[key] = (chip, valid_idx, tree)
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return self._items[key]


def pixel_pairs(
    chip_paths: Sequence[PathLike],
    cfg: PairsConfig,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """Unlabelled pixel pairs (t, t + lead ± tol) at the same location, for pretraining.

    For every ordered chip pair whose time difference is within ``lead ± tol`` (inclusive), each
    valid pixel of the earlier chip is paired with the nearest valid pixel of the later chip
    (cKDTree on unit vectors, then WGS84 geodesic) when within ``max_dist_km``. At most
    ``max_pairs_per_granule_pair`` pairs are kept per chip pair, drawn without replacement with
    a generator seeded by ``seed`` and the two granule names (stable when chips are added).

    Args:
        chip_paths: Chip NetCDF files; all must share the same wavelengths.
        cfg: The ``pairs`` settings: ``lead_days`` (target lead time, days), ``tolerance_days``
            (accepted deviation from the lead, days, ``< lead_days``), ``pixel_max_dist_km``
            (largest geodesic distance, km, between the paired pixel centres) and
            ``max_pixel_pairs_per_granule_pair`` (cap on pairs per chip pair).
        seed: Random seed of the subsampling.

    Returns:
        One row per pair: ``granule_t``, ``granule_t8``, ``time_utc``, ``future_time_utc``,
        ``lat``, ``lon`` (earlier pixel, deg), ``lead_hours``, ``dist_km``, ``Rrs_<nm>`` (at t,
        sr-1, float32) and ``future_Rrs_<nm>`` (at t + lead, sr-1, float32).

    """
    lead_days, tolerance_days = cfg.lead_days, cfg.tolerance_days
    max_dist_km, max_pairs_per_granule_pair = (
        cfg.pixel_max_dist_km,
        cfg.max_pixel_pairs_per_granule_pair,
    )
    _check_lead(lead_days, tolerance_days)
    if max_dist_km <= 0 or max_pairs_per_granule_pair < 1:
        raise ValueError("need max_dist_km > 0 and max_pairs_per_granule_pair >= 1")
    headers = read_chip_headers(chip_paths)
    wl = headers[0].wavelength if headers else np.zeros(0)
    cols, future_cols = rrs_columns(wl), rrs_columns(wl, prefix="future_Rrs_")
    times = np.array([h.time_utc.value for h in headers], dtype=np.int64)
    lo_ns = round((lead_days - tolerance_days) * 86400e9)
    hi_ns = round((lead_days + tolerance_days) * 86400e9)
    cache = _ChipCache(size=16)
    frames = []
    for i, h in enumerate(headers):
        lo = int(np.searchsorted(times, times[i] + lo_ns, side="left"))
        hi = int(np.searchsorted(times, times[i] + hi_ns, side="right"))
        if lo >= hi:
            continue
        chip, valid_idx, _ = cache.get(h)
        xyz = unit_vectors(chip.lat[valid_idx], chip.lon[valid_idx])
        for j in range(lo, hi):
            later, later_idx, tree = cache.get(headers[j])
            if later_idx.size == 0 or valid_idx.size == 0:
                continue
            _, nn = tree.query(xyz, k=1, distance_upper_bound=chord_radius(max_dist_km))
            hit = np.flatnonzero(nn < later_idx.size)
            p_t, p_f = valid_idx[hit], later_idx[nn[hit]]
            d = geodesic_km(chip.lat[p_t], chip.lon[p_t], later.lat[p_f], later.lon[p_f])
            keep = d <= max_dist_km
            p_t, p_f, d = p_t[keep], p_f[keep], d[keep]
            if p_t.size > max_pairs_per_granule_pair:
                key = zlib.crc32(f"{h.granule}|{headers[j].granule}".encode())
                rng = np.random.default_rng([seed, key])
                pick = np.sort(rng.choice(p_t.size, max_pairs_per_granule_pair, replace=False))
                p_t, p_f, d = p_t[pick], p_f[pick], d[pick]
            if p_t.size == 0:
                continue
            meta = pd.DataFrame(
                {
                    "granule_t": h.granule,
                    "granule_t8": headers[j].granule,
                    "time_utc": pd.to_datetime(np.full(p_t.size, times[i]), utc=True),
                    "future_time_utc": pd.to_datetime(np.full(p_t.size, times[j]), utc=True),
                    "lat": chip.lat[p_t],
                    "lon": chip.lon[p_t],
                    "lead_hours": (times[j] - times[i]) / 3.6e12,
                    "dist_km": d,
                }
            )
            now = pd.DataFrame(chip.rrs[p_t], columns=cols)
            future = pd.DataFrame(later.rrs[p_f], columns=future_cols)
            frames.append(pd.concat([meta, now, future], axis=1))
    if not frames:
        empty = {c: pd.Series(dtype=float) for c in _PIXEL_REQUIRED[2:]}
        out = pd.DataFrame(
            {
                "granule_t": pd.Series(dtype=str),
                "granule_t8": pd.Series(dtype=str),
                "time_utc": pd.Series(dtype="datetime64[ns, UTC]"),
                "future_time_utc": pd.Series(dtype="datetime64[ns, UTC]"),
                **empty,
                **{c: pd.Series(dtype=np.float32) for c in [*cols, *future_cols]},
            }
        )
        return out
    return pd.concat(frames, ignore_index=True)


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}")
    find_rrs_columns(df)


def write_labelled_pairs(df: pd.DataFrame, path: PathLike) -> None:
    """Write labelled pairs to Parquet atomically after checking their key columns."""
    _require(df, _LABELLED_REQUIRED, "labelled pairs")
    if not df["pair_id"].is_unique:
        raise ValueError("labelled pairs column 'pair_id' has duplicates")
    write_parquet(df, path)


def write_pixel_pairs(df: pd.DataFrame, path: PathLike) -> None:
    """Write pixel pairs to Parquet atomically after checking their key columns."""
    _require(df, _PIXEL_REQUIRED, "pixel pairs")
    find_rrs_columns(df, prefix="future_Rrs_")
    write_parquet(df, path)
