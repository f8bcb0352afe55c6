"""Reconstruction of the diagnostic windows: SpecTM versus cubic-spline interpolation."""

import numpy as np
import pandas as pd
import pytest

from spectm.evaluate.reconstruction import (
    evaluate_reconstruction,
    reconstruction_table,
    spline_fill,
)
from spectm.io.corpus import write_corpus
from spectm.model.masking import DEFAULT_WINDOWS_NM, window_mask
from spectm.model.pretrained import load_pretrained, reconstruct
from spectm.spectral.grids import paper_grid
from spectm.tables import rrs_columns
from spectm.train.pretrain import pretrain
from tests.conftest import tiny_pretrain_config

WL = paper_grid()

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _spectra(n: int, seed: int) -> np.ndarray:
    """Smooth Rrs (sr-1) with a chl-a dip at 672 nm and a NIR peak at 705 nm."""
    rng = np.random.default_rng(seed)
    w = WL[None, :]
    amp, chl = rng.uniform(0.004, 0.012, (n, 1)), rng.uniform(0, 1, (n, 1))
    base = amp * np.exp(-(((w - 560) / 90) ** 2)) + 0.001
    return base * (1 - 0.35 * chl * np.exp(-(((w - 672) / 9) ** 2))) + 0.004 * chl * np.exp(
        -(((w - 705) / 10) ** 2)
    )


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    n = 240
    spectra = _spectra(n, 0).astype(np.float32)
    day = np.repeat(np.arange(1, 7), n // 6)
    meta = pd.DataFrame(
        {
            "granule": [f"PACE_OCI.202407{d:02d}T180000.L2.OC_AOP.V3_0.nc" for d in day],
            "time_utc": pd.to_datetime([f"2024-07-{d:02d}T18:00:00Z" for d in day], utc=True),
            "lat": 41.7,
            "lon": -83.2,
            "split": np.where(day >= 6, "val", "train"),
            "source": "chip",
        }
    )
    df = pd.concat(
        [
            meta,
            pd.DataFrame(spectra, columns=rrs_columns(WL)),
            pd.DataFrame(np.nan, index=meta.index, columns=rrs_columns(WL, prefix="future_Rrs_")),
        ],
        axis=1,
    )
    df.attrs = {"grid": "paper", "gap_filled_nm": []}
    return write_corpus(df, tmp_path_factory.mktemp("rec") / "corpus.parquet")


@pytest.fixture(scope="module")
def model_path(corpus_path, tmp_path_factory):
    cfg = tiny_pretrain_config(batch_size=32, max_epochs=2)
    return pretrain(corpus_path, tmp_path_factory.mktemp("run"), cfg)


def test_spline_is_exact_for_a_cubic_and_interpolates_only_hidden_bands():
    x = (WL - 560.0) / 100.0
    cubic = np.vstack([1e-3 * (1 + x - 0.5 * x**2 + 0.2 * x**3), 2e-3 * (1 - x**3)])
    hidden = window_mask(WL, DEFAULT_WINDOWS_NM)
    got = spline_fill(cubic, WL, hidden)
    assert got.shape == (2, 28)
    np.testing.assert_allclose(got, cubic[:, hidden], rtol=1e-9, atol=1e-15)


def test_reconstruction_table_scores():
    truth = np.array([[1.0, 2.0], [3.0, 4.0]]) * 1e-3
    preds = {"exact": truth.copy(), "offset": truth + 1e-4}
    table = reconstruction_table(truth, preds, np.array([620.0, 700.0]), [[615, 640], [695, 720]])
    assert list(table["window"]) == ["all", "615-640", "695-720"] * 2
    exact = table[table["method"] == "exact"]
    assert np.allclose(exact["rmse"], 0) and np.allclose(exact["pearson_r"], 1)
    offset = table[table["method"] == "offset"].set_index("window")
    assert offset.loc["all", "rmse"] == pytest.approx(1e-4)
    assert offset.loc["615-640", "n_values"] == 2


def test_evaluate_reconstruction_on_val_split(corpus_path, model_path, tmp_path):
    fig, csv = tmp_path / "rec.png", tmp_path / "rec.csv"
    table = evaluate_reconstruction(model_path, corpus_path, figure_path=fig, table_path=csv)
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pd.testing.assert_frame_equal(pd.read_csv(csv), table)
    assert set(table["method"]) == {"model", "spline"} and len(table) == 8
    assert (table["n_spectra"] == 40).all() and (table["split"] == "val").all()
    assert table["pearson_r"].notna().all()
    # the model row equals an independent computation on the val spectra (sr-1)
    model, meta = load_pretrained(model_path)
    truth = pd.read_parquet(corpus_path).query("split == 'val'")[rrs_columns(WL)].to_numpy(float)
    hidden = window_mask(WL, DEFAULT_WINDOWS_NM)
    pred = reconstruct(model, meta, truth, hidden)[:, hidden]
    row = table[(table["method"] == "model") & (table["window"] == "all")].iloc[0]
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean((pred - truth[:, hidden]) ** 2)))
    assert row["n_values"] == 40 * 28
    # predictions at hidden bands do not depend on the hidden truth (hidden values ~200x the
    # real ones; only float rounding may differ, which varies with the CPU's kernels)
    scrambled = truth.copy()
    scrambled[:, hidden] = 1.0
    np.testing.assert_allclose(
        reconstruct(model, meta, scrambled, hidden)[:, hidden], pred, rtol=1e-6, atol=0
    )


def test_evaluate_reconstruction_empty_split(corpus_path, model_path, tmp_path):
    with pytest.raises(ValueError, match="no row with split == 'test'"):
        evaluate_reconstruction(
            model_path, corpus_path, figure_path=tmp_path / "x.png", split="test"
        )
