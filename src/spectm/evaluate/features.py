"""Feature sets for the microcystin baselines, built from a labelled spectra table.

A feature set is one block or several blocks joined by ``+`` (``indices+s2_srf+aux``). Blocks:

``rrs_native``  every ``Rrs_<nm>`` column of the table (Rrs, sr-1), sorted by wavelength.
``rrs_paper``   Rrs linearly resampled onto the paper's 122-band grid (415-717.5 nm, 2.5 nm) with
                :func:`spectm.spectral.grids.grid_resampler`; bands inside PACE's 589-612 nm gap are
                interpolated across it by that resampler.
``s2_naive``    Sentinel-2A L2A bands from the nearest-centre source band
                (:func:`spectm.spectral.resample.resample`, ``method="naive"``).
``s2_srf``      Sentinel-2A L2A bands weighted by the tabulated ESA SRF (``method="srf"``).
                Only bands the sensor covers are kept (B01-B05 for PACE): missing bands are dropped,
                never filled.
``indices``     bio-optical indices (:func:`spectm.spectral.indices.compute_indices`); indices
                the sensor cannot build (all-NaN) are dropped.
``pca_rrs``     the native Rrs columns, marked for a PCA that is fitted *inside* the model pipeline
                on the training rows only (:func:`feature_transformer`), so no test row leaks
                into the projection.
``aux``         every ``aux_*`` column (e.g. gridMET meteorology), as given.

NaN policy: all-NaN columns (bands or indices the sensor cannot provide) are dropped from the whole
table, which depends only on the sensor, not on labels. Any NaN or infinity left after that is an
error naming the column and the first ``row_id``s: baselines never impute silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectm.spectral.bands import pace_oci_rrs_bands
from spectm.spectral.grids import grid_resampler, paper_grid
from spectm.spectral.indices import compute_indices
from spectm.spectral.resample import resample
from spectm.spectral.srf import S2_L2A_BANDS
from spectm.tables import find_rrs_columns, rrs_columns

logger = logging.getLogger(__name__)

AUX_PREFIX = "aux_"
PCA_PREFIX = "pca_"
PCA_COMPONENTS = 10
"""Principal components of the native Rrs kept by the in-pipeline PCA (assumption: on the 185
real PACE spectra of the shipped table, before its 7 near-real-time duplicates were merged,
4 components hold 99.6 % of the variance, 10 hold 99.97 %; the small ones can carry the
phycocyanin and red-edge shape)."""

BLOCKS = ("rrs_native", "rrs_paper", "s2_naive", "s2_srf", "indices", "pca_rrs", "aux")
"""Feature blocks a feature set can join with ``+``."""

FEATURE_SETS: tuple[str, ...] = (
    "rrs_native",
    "rrs_paper",
    "s2_naive",
    "s2_srf",
    "indices",
    "pca_rrs",
    "indices+s2_naive",
    "indices+s2_srf",
    "rrs_paper+indices",
    "pca_rrs+indices",
)
"""Default catalogue of spectral feature sets (each also exists with ``+aux``; see
:func:`available_feature_sets`)."""


def parse_feature_set(name: str) -> tuple[str, ...]:
    """Split a feature-set name into its blocks (``"indices+s2_srf"`` -> two blocks).

    Raises:
        ValueError: for an unknown or repeated block.
    """
    blocks = tuple(b.strip() for b in str(name).split("+"))
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise ValueError(f"feature set {name!r}: unknown block(s) {unknown}; choose from {BLOCKS}")
    if len(set(blocks)) != len(blocks):
        raise ValueError(f"feature set {name!r} repeats a block")
    if "pca_rrs" in blocks and "rrs_native" in blocks:
        raise ValueError(f"feature set {name!r}: pca_rrs already uses the native Rrs columns")
    return blocks


def aux_columns(df: pd.DataFrame) -> list[str]:
    """The ``aux_*`` columns of ``df``, in table order."""
    return [c for c in df.columns if str(c).startswith(AUX_PREFIX)]


def available_feature_sets(df: pd.DataFrame) -> list[str]:
    """The default catalogue, plus ``aux`` and every ``<set>+aux`` when ``df`` has ``aux_*``."""
    sets = list(FEATURE_SETS)
    if aux_columns(df):
        sets += ["aux"] + [f"{s}+aux" for s in FEATURE_SETS]
    return sets


def _native(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    cols, wl = find_rrs_columns(df)
    return df[cols].to_numpy(dtype=float), wl, cols


def _source_bands(wl: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Exact centres and FWHM (nm) when the columns are the PACE OCI bands, else nominal/None."""
    bands = pace_oci_rrs_bands()
    nominal = bands["wavelength"].to_numpy(dtype=float)
    if wl.size == nominal.size and np.allclose(wl, nominal):
        return bands["centre_nm"].to_numpy(dtype=float), bands["fwhm_nm"].to_numpy(dtype=float)
    return wl, None


def _block_rrs_native(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    x, _, cols = _native(df)
    return x, cols


def _block_rrs_paper(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    x, wl, _ = _native(df)
    grid = paper_grid()
    return grid_resampler(wl, grid)(x), [f"paper_{c}" for c in rrs_columns(grid)]


def _block_s2(df: pd.DataFrame, method: str) -> tuple[np.ndarray, list[str]]:
    x, wl, _ = _native(df)
    centres, fwhm = _source_bands(wl)
    s2 = np.asarray(
        resample(x, centres, source_fwhm_nm=fwhm, target="S2A", version="4.0", method=method),
        dtype=float,
    )
    if s2.shape != (x.shape[0], len(S2_L2A_BANDS)):
        raise ValueError(f"Sentinel-2 resampling returned shape {s2.shape}, expected (n, 12)")
    tag = method.replace("_", "")
    return s2, [f"s2{tag}_{b}" for b in S2_L2A_BANDS]


def _block_indices(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    x, wl, _ = _native(df)
    table = compute_indices(x, wl)
    return table.to_numpy(dtype=float), [str(c) for c in table.columns]


def _block_pca_rrs(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    x, _, cols = _native(df)
    return x, [f"{PCA_PREFIX}{c}" for c in cols]


def _block_aux(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    cols = aux_columns(df)
    if not cols:
        raise ValueError("feature block 'aux' needs aux_* columns; the table has none")
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise ValueError(f"aux columns must be numeric; not numeric: {bad}")
    return df[cols].to_numpy(dtype=float), cols


_BUILDERS: dict[str, Callable[[pd.DataFrame], tuple[np.ndarray, list[str]]]] = {
    "rrs_native": _block_rrs_native,
    "rrs_paper": _block_rrs_paper,
    "s2_naive": lambda df: _block_s2(df, "naive"),
    "s2_srf": lambda df: _block_s2(df, "srf"),
    "indices": _block_indices,
    "pca_rrs": _block_pca_rrs,
    "aux": _block_aux,
}


def _row_ids(df: pd.DataFrame, rows: np.ndarray) -> list[object]:
    ids = df["row_id"].to_numpy() if "row_id" in df.columns else df.index.to_numpy()
    return list(np.asarray(ids[rows][:5]).tolist())


def build_features(df: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    """Build the feature matrix of one feature set.

    Args:
        df: Labelled table with ``Rrs_<nm>`` columns (Rrs, sr-1), optional ``aux_*`` columns and
            optionally ``row_id`` (used in error messages).
        name: Feature-set name: blocks of :data:`BLOCKS` joined by ``+``.

    Returns:
        ``X`` of shape ``(n_rows, n_features)`` (float64) and the ``n_features`` column names.
        Names starting with ``pca_`` are raw Rrs that :func:`feature_transformer` projects.

    Raises:
        ValueError: for an unknown block, a missing input column, or a NaN/infinite value left
            after dropping all-NaN columns (message names the column and row ids).
    """
    parts, names = [], []
    for block in parse_feature_set(name):
        x, cols = _BUILDERS[block](df)
        all_nan = np.all(np.isnan(x), axis=0)
        if all_nan.any():
            dropped = [c for c, d in zip(cols, all_nan, strict=True) if d]
            logger.info("feature set %s: dropped all-NaN columns %s", name, dropped)
        parts.append(x[:, ~all_nan])
        names += [c for c, d in zip(cols, all_nan, strict=True) if not d]
    if not names:
        raise ValueError(f"feature set {name!r} has no usable column for this table")
    x_all = np.hstack(parts)
    bad = ~np.isfinite(x_all)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        raise ValueError(
            f"feature set {name!r}: column {names[j]!r} is NaN/infinite in {rows.size} row(s) "
            f"(row_id {_row_ids(df, rows)}); fix or drop these rows before the baselines"
        )
    return x_all, names


def _pca_columns(feature_names: list[str]) -> list[int]:
    return [i for i, c in enumerate(feature_names) if c.startswith(PCA_PREFIX)]


def pca_components(feature_names: list[str], n_train: int) -> int:
    """Components the in-pipeline PCA keeps: ``min(PCA_COMPONENTS, n_pca_columns, n_train - 1)``.

    ``n_train`` centred rows span at most ``n_train - 1`` directions; a further component has zero
    variance and would blow up in the scaler that follows.

    Args:
        feature_names: Column names returned by :func:`build_features`.
        n_train: Smallest number of rows any fit of the pipeline will see.

    Returns:
        0 when the feature set has no ``pca_*`` column.
    """
    n_cols = len(_pca_columns(feature_names))
    return max(1, min(PCA_COMPONENTS, n_cols, n_train - 1)) if n_cols else 0


def model_width(feature_names: list[str], n_train: int) -> int:
    """Number of features reaching the model after :func:`feature_transformer`."""
    n_pca = len(_pca_columns(feature_names))
    return len(feature_names) - n_pca + pca_components(feature_names, n_train)


class ColumnPCA(TransformerMixin, BaseEstimator):
    """PCA of some columns (centred, unscaled), the other columns passed through after it.

    The projection of ``ColumnTransformer([("pca", PCA(n_components, svd_solver="full"),
    columns)], remainder="passthrough")`` with the same sign convention (each component's largest
    loading positive; a test compares the two), without that pair's per-fit overhead: the baselines
    fit it thousands of times on ~100 rows, where the pair added 8 ms to a ridge pipeline's fit
    and predict and this adds 3 ms (one BLAS thread, 100 x 130).

    Args:
        columns: Indices of the columns to project.
        n_components: Components kept (at most ``min(n_rows, len(columns))``).
    """

    def __init__(self, columns: Sequence[int] = (), n_components: int = 1) -> None:
        self.columns = columns
        self.n_components = n_components

    def fit(self, x: np.ndarray, y: object = None) -> ColumnPCA:
        """Learn the mean and the leading right singular vectors of the ``columns`` block."""
        x = np.asarray(x, dtype=float)  # (n, n_features)
        cols = np.asarray(self.columns, dtype=int)
        k = int(self.n_components)
        if not 1 <= k <= min(x.shape[0], cols.size):
            raise ValueError(
                f"ColumnPCA: n_components={k} not in [1, {min(x.shape[0], cols.size)}]"
            )
        block = x[:, cols]  # (n, n_cols)
        self.mean_ = block.mean(axis=0)  # (n_cols,)
        _, _, vt = np.linalg.svd(block - self.mean_, full_matrices=False)  # (r, n_cols)
        vt = vt[:k]
        signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
        self.components_ = vt * signs[:, None]  # (k, n_cols)
        self.rest_ = np.setdiff1d(np.arange(x.shape[1]), cols)
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(n, n_features) -> (n, n_components + n_features - len(columns))."""
        check_is_fitted(self, "components_")
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ValueError(f"ColumnPCA: expected {self.n_features_in_} columns, got {x.shape}")
        cols = np.asarray(self.columns, dtype=int)
        scores = (x[:, cols] - self.mean_) @ self.components_.T  # (n, k)
        return np.hstack([scores, x[:, self.rest_]])


def feature_transformer(feature_names: list[str], n_train: int) -> ColumnPCA | None:
    """The in-pipeline feature step for ``pca_*`` columns, or None when there are none.

    The PCA (centred, unscaled Rrs; :func:`pca_components` components) is fitted on the training
    rows of each fit only; the other columns pass through unchanged after the components.

    Args:
        feature_names: Column names returned by :func:`build_features`.
        n_train: Smallest number of rows any fit of the pipeline will see (caps the components).
    """
    idx = _pca_columns(feature_names)
    if not idx:
        return None
    return ColumnPCA(columns=tuple(idx), n_components=pca_components(feature_names, n_train))
