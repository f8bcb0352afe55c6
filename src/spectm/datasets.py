"""Labelled datasets for microcystin fine-tuning and baselines (one contract, several builders).

A labelled dataset is a Parquet table with one spectrum–label pair per row:

==================== =====================================================================
``row_id``           str, unique
``station``          str, GLERL station (site) id
``time_utc``         spectrum (granule) time, UTC
``label_time_utc``   in-situ sample time, UTC (NaT when unknown)
``dt_hours``         label − spectrum (h, signed; NaN when unknown)
``horizon``          ``current_week`` or ``8day_ahead``
``microcystin_ugL``  particulate microcystin (µg/L), > 0
``log10_microcystin`` log10 of the above
``censored``         bool: below detection; the value is a substitute
``lat``, ``lon``     position of the spectrum (deg)
``dataset``          dataset name
``Rrs_<nm>``         Rrs (sr-1) at the native wavelengths
==================== =====================================================================

Optional, checked when present: ``stress_test`` (bool: scum or event samples, keep out of clean
training/scoring) and ``granule`` (str, for grouping by overpass).

Censored labels are replaced by half the detection limit (DL/2; ``default_dl_ugL`` when the
sample has no DL). Labels ≤ 0 and missing labels are dropped; the counts are logged and stored in
``DataFrame.attrs``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from spectm._io import PathLike, write_parquet
from spectm.data_files import data_path
from spectm.pairs import labelled_pairs
from spectm.tables import find_rrs_columns

log = logging.getLogger(__name__)

HORIZONS: tuple[str, ...] = ("current_week", "8day_ahead")
DATASET_COLUMNS: tuple[str, ...] = (
    "row_id",
    "station",
    "time_utc",
    "label_time_utc",
    "dt_hours",
    "horizon",
    "microcystin_ugL",
    "log10_microcystin",
    "censored",
    "lat",
    "lon",
    "dataset",
)
SHIPPED_TABLE = ("pace_oci", "lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv")
#: ``label_source`` of the shipped rows that are assumed off-season zeros, not measurements.
ASSUMED_ZERO = "assumed_zero_offseason_no_insitu"
#: The shipped table codes below-detection particulate microcystin as this value (µg/L).
SHIPPED_BDL_CODE = 0.01
#: GLERL station ids; other ids (``2024.1``, ``WE 2013.x``) are special/scum grab samples.
_STATION_RE = r"^WE\d+$"


def _labels(
    value: pd.Series, censored: pd.Series, dl: pd.Series, default_dl_ugL: float
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Label values (µg/L) with censored ones set to DL/2, the censoring flags and drop counts."""
    cens = censored.fillna(False).astype(bool).to_numpy()
    val = value.to_numpy(dtype=float).copy()
    dlv = dl.to_numpy(dtype=float)
    no_dl = cens & ~np.isfinite(dlv)
    val[cens] = np.where(np.isfinite(dlv[cens]), dlv[cens], default_dl_ugL) / 2.0
    counts = {
        "n_censored_substituted": int(cens.sum()),
        "n_censored_default_dl": int(no_dl.sum()),
        "n_dropped_missing": int(np.isnan(val).sum()),
        "n_dropped_nonpositive": int((val <= 0).sum()),
    }
    return val, cens, counts


def _assemble(
    base: pd.DataFrame, rrs: pd.DataFrame, counts: dict[str, int], name: str
) -> pd.DataFrame:
    """Drop rows without a positive label, add log10, order columns and record counts."""
    v = base["microcystin_ugL"].to_numpy(dtype=float)
    keep = np.isfinite(v) & (v > 0)
    base = base[keep].reset_index(drop=True)
    base["log10_microcystin"] = np.log10(v[keep])
    out = pd.concat([base, rrs[keep].reset_index(drop=True)], axis=1)
    extra = [c for c in ("stress_test", "granule") if c in out.columns]
    rrs_cols, _ = find_rrs_columns(out)
    out = out[[*DATASET_COLUMNS, *extra, *rrs_cols]]
    out.attrs.update(counts)
    if counts.get("n_dropped_nonpositive") or counts.get("n_dropped_missing"):
        log.info("dataset %s: dropped %s", name, counts)
    return out


def _ns(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col, utc=True).dt.as_unit("ns")


def from_matchups(
    matchups: pd.DataFrame,
    *,
    dataset: str = "matchups",
    label: str = "particulate_microcystin_ugL",
    default_dl_ugL: float = 0.1,
) -> pd.DataFrame:
    """Current-week dataset from a matchups table (:func:`spectm.matchup.match_samples`).

    The spectrum time is ``granule_time_utc``; the label time is the sample's ``time_utc``;
    ``dt_hours`` = label − spectrum (the opposite sign of the matchup's ``dt_hours``);
    ``stress_test`` marks Scum samples.

    Raises:
        ValueError: naming the missing column.

    """
    lab = [label, f"{label}_censored", f"{label}_dl"]
    need = [
        "sample_id",
        "site",
        "time_utc",
        "granule",
        "granule_time_utc",
        "match_lat",
        "match_lon",
    ]
    missing = [c for c in [*need, *lab] if c not in matchups.columns]
    if missing:
        raise ValueError(f"matchups table lacks column(s) {missing}")
    rrs_cols, _ = find_rrs_columns(matchups)
    m = matchups.reset_index(drop=True)
    value, cens, counts = _labels(m[lab[0]], m[lab[1]], m[lab[2]], default_dl_ugL)
    t = _ns(m["granule_time_utc"])
    lt = _ns(m["time_utc"])
    depth = m["depth_category"] if "depth_category" in m.columns else pd.Series("", index=m.index)
    base = pd.DataFrame(
        {
            "row_id": (dataset + ":" + m["sample_id"].astype(str)).to_numpy(),
            "station": m["site"].astype(str).to_numpy(),
            "time_utc": t,
            "label_time_utc": lt,
            "dt_hours": (lt - t).dt.total_seconds() / 3600.0,
            "horizon": "current_week",
            "microcystin_ugL": value,
            "censored": cens,
            "lat": m["match_lat"].to_numpy(dtype=float),
            "lon": m["match_lon"].to_numpy(dtype=float),
            "dataset": dataset,
            "stress_test": (depth == "Scum").to_numpy(),
            "granule": m["granule"].astype(str).to_numpy(),
        }
    )
    return _assemble(base, m[rrs_cols], counts, dataset)


def from_shipped_table(
    path: PathLike | None = None, *, dataset: str = "pace_glerl_2024_2025"
) -> pd.DataFrame:
    """Current-week dataset from the shipped 183-spectrum PACE–GLERL matchup table.

    The 5 ``assumed_zero_offseason_no_insitu`` rows are excluded (not measurements). The table
    codes below-detection as 0.01 µg/L: kept as is and flagged ``censored``. The label time is
    unknown (label = mean of samples within ± 2 days), so ``label_time_utc`` is NaT and
    ``dt_hours`` NaN. ``stress_test`` marks non-``WE`` stations (the two scum grab samples).

    Args:
        path: The CSV; default: the copy shipped in ``spectm/data/pace_oci``.
        dataset: Name written to the ``dataset`` column.

    Raises:
        ValueError: naming the file and the missing column, or a duplicate granule × station.

    """
    p = data_path(*SHIPPED_TABLE) if path is None else path
    raw = pd.read_csv(p)
    need = ["granule", "station", "granule_time_utc", "lat", "lon", "label_source"]
    missing = [c for c in [*need, "particulate_microcystin_ugL"] if c not in raw.columns]
    if missing:
        raise ValueError(f"{p}: lacks column(s) {missing}")
    assumed = (raw["label_source"] == ASSUMED_ZERO).to_numpy()
    m = raw[~assumed].reset_index(drop=True)
    key = m["granule"].astype(str) + ":" + m["station"].astype(str)
    if key.duplicated().any():
        raise ValueError(f"{p}: duplicate granule/station row {key[key.duplicated()].iloc[0]}")
    value = m["particulate_microcystin_ugL"].to_numpy(dtype=float)
    counts = {
        "n_excluded_assumed_zero": int(assumed.sum()),
        "n_dropped_missing": int(np.isnan(value).sum()),
        "n_dropped_nonpositive": int((value <= 0).sum()),
    }
    rrs_cols, _ = find_rrs_columns(m)
    base = pd.DataFrame(
        {
            "row_id": (dataset + ":" + key).to_numpy(),
            "station": m["station"].astype(str).to_numpy(),
            "time_utc": _ns(m["granule_time_utc"]),
            "label_time_utc": pd.Series(pd.NaT, index=m.index, dtype="datetime64[ns, UTC]"),
            "dt_hours": np.nan,
            "horizon": "current_week",
            "microcystin_ugL": value,
            "censored": np.isclose(value, SHIPPED_BDL_CODE),
            "lat": m["lat"].to_numpy(dtype=float),
            "lon": m["lon"].to_numpy(dtype=float),
            "dataset": dataset,
            "stress_test": ~m["station"].astype(str).str.match(_STATION_RE).to_numpy(),
            "granule": m["granule"].astype(str).to_numpy(),
        }
    )
    return _assemble(base, m[rrs_cols].astype(float), counts, dataset)


def eight_day_dataset(
    spectra_dataset_or_matchups: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    lead_days: float,
    tolerance_days: float,
    depth_categories: Sequence[str],
    dataset: str = "eight_day",
    label: str = "particulate_microcystin_ugL",
    default_dl_ugL: float = 0.1,
) -> pd.DataFrame:
    """8-day-ahead dataset: station spectra at t, labels from samples at t + lead ± tol.

    The input is either a labelled dataset (has ``horizon``; uses ``station``, ``time_utc``,
    ``lat``, ``lon``) or a matchups table (uses ``site``, ``granule_time_utc``, ``match_lat``,
    ``match_lon``). Spectra repeated at the same station and time (two samples matched to one
    overpass) are used once. Labels come from :func:`spectm.pairs.labelled_pairs`.

    Raises:
        ValueError: naming the missing column.

    """
    src = spectra_dataset_or_matchups.reset_index(drop=True)
    rrs_cols, _ = find_rrs_columns(src)
    names = ("station", "time_utc", "lat", "lon")
    if "horizon" not in src.columns:
        names = ("site", "granule_time_utc", "match_lat", "match_lon")
    missing = [c for c in names if c not in src.columns]
    if missing:
        raise ValueError(f"spectra table lacks column(s) {missing}")
    spec = pd.DataFrame(
        {
            "station": src[names[0]].astype(str).to_numpy(),
            "time_utc": _ns(src[names[1]]),
            "lat": src[names[2]].to_numpy(dtype=float),
            "lon": src[names[3]].to_numpy(dtype=float),
            "stress_test": src["stress_test"].fillna(False).astype(bool).to_numpy()
            if "stress_test" in src.columns
            else False,
        }
    )
    if "granule" in src.columns:
        spec["granule"] = src["granule"].astype(str).to_numpy()
    spec = pd.concat([spec, src[rrs_cols]], axis=1).drop_duplicates(["station", "time_utc"])
    pairs = labelled_pairs(
        spec,
        samples,
        lead_days=lead_days,
        tolerance_days=tolerance_days,
        label=label,
        depth_categories=depth_categories,
        station_column="station",
        time_column="time_utc",
    )
    lab = [label, f"{label}_censored", f"{label}_dl"]
    value, cens, counts = _labels(pairs[lab[0]], pairs[lab[1]], pairs[lab[2]], default_dl_ugL)
    row_id = (
        dataset
        + ":"
        + pairs["station"].astype(str)
        + ":"
        + pairs["time_utc"].dt.strftime("%Y%m%dT%H%M%S")
        + ":"
        + pairs["label_sample_id"].astype(str)
    )
    base = pd.DataFrame(
        {
            "row_id": row_id.to_numpy(),
            "station": pairs["station"].to_numpy(),
            "time_utc": pairs["time_utc"],
            "label_time_utc": pairs["label_time_utc"],
            "dt_hours": pairs["lead_hours"].to_numpy(dtype=float),
            "horizon": "8day_ahead",
            "microcystin_ugL": value,
            "censored": cens,
            "lat": pairs["lat"].to_numpy(dtype=float),
            "lon": pairs["lon"].to_numpy(dtype=float),
            "dataset": dataset,
            "stress_test": (
                pairs["stress_test"].to_numpy(dtype=bool)
                | (pairs["label_depth_category"] == "Scum").to_numpy()
            ),
        }
    )
    if "granule" in pairs.columns:
        base["granule"] = pairs["granule"].to_numpy()
    return _assemble(base, pairs[rrs_cols], counts, dataset)


def validate_dataset(df: pd.DataFrame) -> None:
    """Check a labelled dataset against the contract (module docstring).

    Raises:
        ValueError: naming the offending column (and the first offending ``row_id``).

    """
    for c in DATASET_COLUMNS:
        if c not in df.columns:
            raise ValueError(f"labelled dataset lacks column '{c}'")
    rrs_cols, _ = find_rrs_columns(df)

    def bad(col: str, mask: np.ndarray | pd.Series, what: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            first = df["row_id"].iloc[int(np.argmax(mask))]
            raise ValueError(f"labelled dataset column '{col}' {what} (first at row_id {first!r})")

    rid = df["row_id"]
    bad("row_id", rid.isna() | ~rid.map(lambda v: isinstance(v, str)), "must be a string")
    bad("row_id", rid.duplicated(), "must be unique")
    for c in ("time_utc", "label_time_utc"):
        if not isinstance(df[c].dtype, pd.DatetimeTZDtype) or str(df[c].dt.tz) != "UTC":
            raise ValueError(
                f"labelled dataset column '{c}' must be UTC datetimes, got {df[c].dtype}"
            )
    bad("time_utc", df["time_utc"].isna(), "is missing")
    for c in ("dt_hours", "microcystin_ugL", "log10_microcystin", "lat", "lon", *rrs_cols):
        if not pd.api.types.is_float_dtype(df[c]):
            raise ValueError(f"labelled dataset column '{c}' must be float, got {df[c].dtype}")
    bad("horizon", ~df["horizon"].isin(HORIZONS), f"must be one of {list(HORIZONS)}")
    mc = df["microcystin_ugL"].to_numpy(dtype=float)
    bad("microcystin_ugL", ~(np.isfinite(mc) & (mc > 0)), "must be finite and > 0")
    log10 = df["log10_microcystin"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        bad("log10_microcystin", ~np.isclose(log10, np.log10(mc)), "must equal log10(microcystin)")
    for c in ("censored", "stress_test"):
        if c in df.columns and not pd.api.types.is_bool_dtype(df[c]):
            raise ValueError(f"labelled dataset column '{c}' must be bool, got {df[c].dtype}")
    for c in ("lat", "lon"):
        bad(c, ~np.isfinite(df[c].to_numpy(dtype=float)), "must be finite")
    bad("dataset", df["dataset"].isna() | (df["dataset"].astype(str) == ""), "must be a name")
    bad("station", df["station"].isna(), "is missing")


def write_dataset(df: pd.DataFrame, path: PathLike) -> None:
    """Validate a labelled dataset and write it to Parquet atomically."""
    validate_dataset(df)
    write_parquet(df, path)


def read_dataset(path: PathLike) -> pd.DataFrame:
    """Read a labelled dataset from Parquet and validate it."""
    df = pd.read_parquet(path)
    try:
        validate_dataset(df)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return df


DATASET_SOURCES: tuple[str, ...] = ("matchups", "shipped")


def build_dataset(
    source: str,
    horizon: str,
    *,
    matchups_path: PathLike | None = None,
    samples_path: PathLike | None = None,
    lead_days: float,
    tolerance_days: float,
    depth_categories: Sequence[str],
) -> pd.DataFrame:
    """One labelled dataset for fine-tuning and baselines.

    Args:
        source: ``matchups`` (the workflow's own matchups) or ``shipped`` (the 183 real PACE
            spectra at GLERL stations bundled with the package, 178 after dropping the
            assumed-zero rows).
        horizon: ``current_week`` or ``8day_ahead`` (labels at the same station t + lead ± tol).
        matchups_path: Matchups Parquet (source ``matchups``).
        samples_path: Harmonised samples Parquet (8-day-ahead labels).
        lead_days: Lead time of the 8-day-ahead pairs (days).
        tolerance_days: Tolerance around the lead time (days).
        depth_categories: Sample depth categories usable as labels.
    """
    if source not in DATASET_SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {DATASET_SOURCES}")
    if horizon not in HORIZONS:
        raise ValueError(f"unknown horizon {horizon!r}; expected one of {HORIZONS}")
    if source == "matchups":
        if matchups_path is None:
            raise ValueError("source 'matchups' needs matchups_path")
        spectra = pd.read_parquet(matchups_path)
        current = from_matchups(spectra, dataset="matchups")
    else:
        current = from_shipped_table(dataset="shipped")
        spectra = current
    if horizon == "current_week":
        return current
    if samples_path is None:
        raise ValueError("horizon '8day_ahead' needs samples_path")
    return eight_day_dataset(
        spectra,
        pd.read_parquet(samples_path),
        lead_days=lead_days,
        tolerance_days=tolerance_days,
        dataset=source,
        depth_categories=depth_categories,
    )


def attach_aux(dataset_path: PathLike, aux_path: PathLike | None = None) -> pd.DataFrame:
    """Read a labelled dataset and join its ``aux_*`` features (by ``row_id``) when given.

    Raises:
        ValueError: naming the AUX file when a dataset row has no AUX row.
    """
    df = read_dataset(dataset_path)
    if aux_path is None:
        return df
    aux = pd.read_parquet(aux_path)
    missing = set(df["row_id"]) - set(aux["row_id"])
    if missing:
        raise ValueError(f"{aux_path}: no AUX features for {len(missing)} row_id(s)")
    return df.merge(aux, on="row_id", how="left", validate="one_to_one")
