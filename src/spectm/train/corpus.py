"""The pretraining corpus: unlabelled water spectra on the model band grid.

Each row is one valid water pixel from a chip, linearly resampled onto the model grid, one
pixel of a temporal pixel pair (spectrum at t plus the spectrum of the same place 8 days later),
or, on request, one spectrum of a labelled table (its Rrs and time only, never its label).

The corpus table is defined in :mod:`spectm.io.corpus`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spectm._io import PathLike
from spectm.datasets import read_dataset, validate_dataset
from spectm.evaluate.splits import date_groups
from spectm.io.chips import load_chip_pixels
from spectm.io.corpus import FUTURE_PREFIX, PAIR_COLUMNS
from spectm.io.pace_l2 import granule_time
from spectm.spectral.grids import GridResampler, covering_resampler, model_grid
from spectm.tables import find_rrs_columns, rrs_columns


def _valid_rows(spectra: np.ndarray, res: GridResampler) -> np.ndarray:
    """Rows whose source bands are all finite over the span the grid draws on, ``(n,)`` bool."""
    used = res.weights.any(axis=0)  # (n_src,)
    span = (res.source_nm >= res.source_nm[used].min()) & (
        res.source_nm <= res.source_nm[used].max()
    )
    return np.isfinite(spectra[:, span]).all(axis=1)


def _sample_chip_pixels(
    paths: list[Path], target_nm: np.ndarray, grid: str, max_pixels: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, dict[str, pd.Timestamp], np.ndarray, int]:
    """Uniform sample (without replacement) of at most ``max_pixels`` valid pixels over all chips.

    Every valid pixel gets a seeded random key; the ``max_pixels`` smallest keys are kept while
    chips stream past, so memory stays bounded by about ``2 * max_pixels`` plus one chip.

    Returns:
        Metadata per kept pixel, spectra on the grid ``(n, n_grid)`` (sr-1), time per granule,
        gap-filled grid bands ``(n_grid,)`` and the number of valid pixels seen.

    """
    rng = np.random.default_rng(seed)
    keys: list[np.ndarray] = [np.empty(0)]
    spectra: list[np.ndarray] = [np.empty((0, target_nm.size), dtype=np.float32)]
    info: list[np.ndarray] = [np.empty((0, 4))]  # chip number, flat pixel index, lat, lon
    granules: list[str] = []
    times: dict[str, pd.Timestamp] = {}
    gap = np.zeros(target_nm.size, dtype=bool)
    n_valid, n_held = 0, 0
    resamplers: dict[tuple[float, ...], GridResampler] = {}
    for k, path in enumerate(paths):
        chip = load_chip_pixels(path)
        wl_key = tuple(chip.header.wavelength)
        if wl_key not in resamplers:
            resamplers[wl_key] = covering_resampler(
                chip.header.wavelength, target_nm, what=f"chip {path} ('{grid}' grid)"
            )
        res = resamplers[wl_key]
        gap |= res.gap_filled
        pix = np.flatnonzero(_valid_rows(chip.rrs, res))
        n_valid += pix.size
        granules.append(chip.header.granule)
        times.setdefault(chip.header.granule, chip.header.time_start)
        keys.append(rng.random(pix.size))
        spectra.append(res(chip.rrs[pix]).astype(np.float32))
        info.append(np.column_stack([np.full(pix.size, k), pix, chip.lat[pix], chip.lon[pix]]))
        n_held += pix.size
        if n_held > 2 * max_pixels or k == len(paths) - 1:  # prune in amortised O(n) time
            all_keys = np.concatenate(keys)
            keep = np.argpartition(all_keys, min(max_pixels, all_keys.size) - 1)[:max_pixels]
            keys = [all_keys[keep]]
            spectra = [np.concatenate(spectra)[keep]]
            info = [np.concatenate(info)[keep]]
            n_held = keep.size
    held_spectra, held_info = np.concatenate(spectra), np.concatenate(info)
    order = np.lexsort((held_info[:, 1], held_info[:, 0]))  # chip order, then pixel order
    held_spectra, held_info = held_spectra[order], held_info[order]
    chip_no = held_info[:, 0].astype(int)
    meta = pd.DataFrame(
        {
            "granule": np.asarray(granules, dtype=object)[chip_no],
            "time_utc": [times[granules[c]] for c in chip_no],
            "lat": held_info[:, 2],
            "lon": held_info[:, 3],
            "source": "chip",
        }
    )
    return meta, held_spectra, times, gap, n_valid


def _granule_time(
    granule: str, chip_times: dict[str, pd.Timestamp], row: int, path: Path
) -> pd.Timestamp:
    if granule in chip_times:
        return chip_times[granule]
    try:
        return granule_time(granule)
    except ValueError as err:
        raise ValueError(
            f"pixel pairs {path}, row {row}: granule_t {granule!r} is not among the chips and is "
            "not a PACE OCI L2 AOP file name"
        ) from err


def _read_pairs(
    path: Path, target_nm: np.ndarray, chip_times: dict[str, pd.Timestamp]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel pairs on the grid: metadata, spectra at t and t + 8 d (sr-1), gap-filled bands."""
    pairs = pd.read_parquet(path)
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"pixel pairs {path}: missing columns {missing}")
    cur_cols, cur_wl = find_rrs_columns(pairs)
    fut_cols, fut_wl = find_rrs_columns(pairs, prefix=FUTURE_PREFIX)
    cur_res = covering_resampler(cur_wl, target_nm, what=f"pixel pairs {path} (Rrs_<nm>)")
    fut_res = covering_resampler(fut_wl, target_nm, what=f"pixel pairs {path} (future_Rrs_<nm>)")
    cur_src = pairs[cur_cols].to_numpy(dtype=float)
    ok = _valid_rows(cur_src, cur_res) & np.isfinite(pairs["lat"].to_numpy(dtype=float))
    pairs = pairs[ok].reset_index(drop=True)
    cur = cur_res(cur_src[ok]).astype(np.float32)
    fut = fut_res(pairs[fut_cols].to_numpy(dtype=float)).astype(np.float32)  # NaN bands stay NaN
    times = [_granule_time(str(g), chip_times, i, path) for i, g in enumerate(pairs["granule_t"])]
    meta = pd.DataFrame(
        {
            "granule": pairs["granule_t"].astype(str).to_numpy(),
            "time_utc": times,
            "lat": pairs["lat"].to_numpy(dtype=float),
            "lon": pairs["lon"].to_numpy(dtype=float),
            "source": "pair",
        }
    )
    return meta, cur, fut, cur_res.gap_filled | fut_res.gap_filled


def _read_labelled(
    tables: Sequence[PathLike | pd.DataFrame], target_nm: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, int]]:
    """Spectra of labelled tables on the grid: metadata, Rrs (sr-1), gap-filled bands, counts.

    Only ``time_utc``, ``lat``, ``lon``, ``granule`` (when present) and ``Rrs_<nm>`` are taken;
    no label column is read into the result. Rows whose Rrs is not finite over the span the grid
    draws on are dropped, and so are repeats of a spectrum (same time, place and grid values,
    e.g. the same overpass in the current-week and the 8-day-ahead table).
    """
    metas, spectra = [], []
    gap = np.zeros(target_nm.size, dtype=bool)
    n_read = n_invalid = 0
    for k, table in enumerate(tables):
        if isinstance(table, pd.DataFrame):
            what = f"labelled table #{k}"
            try:
                validate_dataset(table)
            except ValueError as err:
                raise ValueError(f"{what}: {err}") from err
            df = table.reset_index(drop=True)
        else:
            what = f"labelled table {table}"
            df = read_dataset(table)
        cols, wl = find_rrs_columns(df)
        res = covering_resampler(wl, target_nm, what=f"{what} (Rrs_<nm>)")
        src = df[cols].to_numpy(dtype=float)  # (n, n_src)
        ok = _valid_rows(src, res)
        n_read += len(df)
        n_invalid += int((~ok).sum())
        gap |= res.gap_filled
        granule = df["granule"].astype(str) if "granule" in df.columns else pd.Series("", df.index)
        metas.append(
            pd.DataFrame(
                {
                    "granule": granule[ok].to_numpy(dtype=object),
                    "time_utc": pd.to_datetime(df["time_utc"][ok], utc=True).array,
                    "lat": df["lat"][ok].to_numpy(dtype=float),
                    "lon": df["lon"][ok].to_numpy(dtype=float),
                    "source": "labelled",
                }
            )
        )
        spectra.append(res(src[ok]).astype(np.float32))
    meta = pd.concat(metas, ignore_index=True)
    grid = np.concatenate(spectra)  # (n, n_grid)
    key = pd.concat(
        [meta[["time_utc", "lat", "lon"]], pd.DataFrame(grid)], axis=1, ignore_index=True
    )
    repeat = key.duplicated().to_numpy()
    counts = {
        "n_labelled_read": n_read,
        "n_labelled_invalid": n_invalid,
        "n_labelled_repeats": int(repeat.sum()),
    }
    return meta[~repeat].reset_index(drop=True), grid[~repeat], gap, counts


def _split_by_date(times: pd.Series, val_fraction: float, seed: int) -> np.ndarray:
    """``train``/``val`` per row; every overpass date (hence every granule) on one side."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    dates = date_groups(times)
    unique = np.unique(dates)
    if val_fraction == 0.0:
        return np.full(dates.size, "train", dtype=object)
    if unique.size < 2:
        raise ValueError(
            f"a validation split needs at least 2 overpass dates, the corpus has {unique.size}; "
            "add chips or set val_fraction=0"
        )
    n_val = min(unique.size - 1, max(1, round(val_fraction * unique.size)))
    val_dates = np.random.default_rng([seed, 1]).permutation(unique)[:n_val]
    return np.where(np.isin(dates, val_dates), "val", "train").astype(object)


def build_corpus(
    chip_paths: Sequence[PathLike],
    *,
    grid: str,
    pixel_pairs_path: PathLike | None = None,
    labelled_tables: Sequence[PathLike | pd.DataFrame] | PathLike | pd.DataFrame = (),
    max_pixels: int,
    val_fraction: float,
    seed: int,
) -> pd.DataFrame:
    """Collect valid water pixels from chips (and pixel pairs, labelled spectra) on a model grid.

    With ``labelled_tables`` the corpus also holds the Rrs spectra of the labelled tables, on
    their own overpass dates (``source == "labelled"``). This is transductive use of unlabelled
    inputs: the encoder is pretrained on the very spectra it is later probed or fine-tuned on
    (never on their labels), so scores of a model pretrained this way measure the transductive
    setting, not generalisation to spectra unseen in pretraining.

    The split: chip and pair rows get exactly the split they get without ``labelled_tables``
    (``val_fraction`` of their overpass dates); a labelled spectrum joins the side of its date
    when chips or pairs share that date, and ``train`` otherwise. Every date stays on one side and
    the validation rows of the chips and pairs do not change.

    Args:
        chip_paths: Chip files (NetCDF-4: ``Rrs`` (y, x, wavelength) sr-1, NaN invalid; 2-D
            ``lat``/``lon``; attributes ``granule``, ``time_coverage_start``). Read in sorted order.
        grid: Model grid name, ``paper`` or ``native`` (:func:`spectm.spectral.grids.model_grid`).
        pixel_pairs_path: Optional Parquet of temporal pixel pairs (``granule_t``, ``granule_t8``,
            ``lat``, ``lon``, ``lead_hours``, ``Rrs_<nm>`` at t, ``future_Rrs_<nm>`` at t + 8 d,
            sensor nm). All valid pairs are kept; the chip pixel they duplicate is dropped.
        labelled_tables: Labelled datasets (:mod:`spectm.datasets` contract): one or a sequence
            of Parquet paths or DataFrames. Their ``Rrs_<nm>`` (sensor nm), ``time_utc``,
            ``lat``, ``lon`` and ``granule`` (empty when absent) enter the corpus, resampled as
            chip pixels are; no label column does. Spectra not finite over the grid's span are
            dropped, and so are repeats (same time, place and grid values). Their
            ``future_Rrs_<nm>`` are NaN. Default: none.
        max_pixels: At most this many chip pixels, drawn uniformly (seeded) over all chips.
        val_fraction: Fraction of overpass dates held out as ``val``.
        seed: Seed of the pixel sample and of the split.

    Returns:
        The corpus table (schema in the module docstring), ``attrs`` filled.

    Raises:
        ValueError: on malformed chips, pairs or labelled tables (naming the file or table), or
            no valid chip or pair pixel at all.

    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    paths = sorted(Path(p) for p in chip_paths)
    target = model_grid(grid)
    if not paths:
        raise ValueError("build_corpus needs at least one chip file")
    meta, spectra, chip_times, gap, n_valid = _sample_chip_pixels(
        paths, target, grid, max_pixels, seed
    )
    future = np.full(spectra.shape, np.nan, dtype=np.float32)
    n_pairs = 0
    if pixel_pairs_path is not None:
        pmeta, pcur, pfut, pgap = _read_pairs(Path(pixel_pairs_path), target, chip_times)
        gap |= pgap
        n_pairs = len(pmeta)
        key = ["granule", "lat", "lon"]
        dup = (
            meta[key]
            .round({"lat": 6, "lon": 6})
            .merge(
                pmeta[key].round({"lat": 6, "lon": 6}).drop_duplicates(), how="left", indicator=True
            )["_merge"]
            .eq("both")
            .to_numpy()
        )
        meta, spectra, future = meta[~dup], spectra[~dup], future[~dup]
        meta = pd.concat([meta, pmeta], ignore_index=True)
        spectra, future = np.concatenate([spectra, pcur]), np.concatenate([future, pfut])
    if len(meta) == 0:
        raise ValueError(f"no valid water pixel in {len(paths)} chip(s) for the '{grid}' grid")
    meta = meta.reset_index(drop=True)
    meta["time_utc"] = pd.to_datetime(meta["time_utc"], utc=True)
    meta.insert(4, "split", _split_by_date(meta["time_utc"], val_fraction, seed))
    counts = {"n_labelled_rows": 0}
    tables = (
        [labelled_tables]
        if isinstance(labelled_tables, str | os.PathLike | pd.DataFrame)
        else list(labelled_tables)
    )
    if tables:
        lmeta, lspec, lgap, lcounts = _read_labelled(tables, target)
        gap |= lgap
        counts = {"n_labelled_rows": len(lmeta), **lcounts}
        val_dates = date_groups(meta.loc[meta["split"] == "val", "time_utc"])
        lval = np.isin(date_groups(lmeta["time_utc"]), val_dates)
        lmeta.insert(4, "split", np.where(lval, "val", "train").astype(object))
        lmeta["time_utc"] = lmeta["time_utc"].dt.as_unit(meta["time_utc"].dt.unit)  # as chips
        meta = pd.concat([meta, lmeta], ignore_index=True)
        spectra = np.concatenate([spectra, lspec])
        future = np.concatenate([future, np.full(lspec.shape, np.nan, dtype=np.float32)])
    bands = pd.DataFrame(spectra, columns=rrs_columns(target))
    fut = pd.DataFrame(future, columns=rrs_columns(target, prefix=FUTURE_PREFIX))
    df = pd.concat([meta, bands, fut], axis=1)
    df.attrs = {
        "grid": grid,
        "wavelength_nm": [float(w) for w in target],
        "gap_filled_nm": [float(w) for w in target[gap]],
        "resampling": "linear interpolation (spectm.spectral.grids.grid_resampler)",
        "n_chips": len(paths),
        "n_valid_chip_pixels": n_valid,
        "n_chip_pixels": int((df["source"] == "chip").sum()),
        "n_pair_rows": n_pairs,
        "max_pixels": max_pixels,
        "val_fraction": val_fraction,
        "seed": seed,
    }
    df.attrs.update(counts)  # n_labelled_rows (and, with labelled tables, what was dropped)
    return df
