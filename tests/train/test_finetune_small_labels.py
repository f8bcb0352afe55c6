"""SpecTM fine-tuning at tiny label counts: the constant probe and finite half-widths."""

import math

import numpy as np
import pytest
import torch

from spectm.evaluate.baselines import fit_cell
from spectm.model.pretrained import load_pretrained
from spectm.train.finetune import FullConfig, fit_full, inner_validation_split, linear_probe
from spectm.train.pretrain import pretrain
from tests.conftest import tiny_pretrain_config, turbid_spectra

CPU = torch.device("cpu")
PROBE = {"ridge_grid": "demo", "inner_splits": 3}

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def encoder(corpus_path, tmp_path_factory):
    """A tiny SpecTM pretrained for one epoch on the generated corpus (tests/train/conftest.py)."""
    path = pretrain(corpus_path, tmp_path_factory.mktemp("small"), tiny_pretrain_config())
    return load_pretrained(path)


def labelled(meta, n_dates: int, per_date: int, seed: int = 0):
    """Spectra on the model grid (n, n_grid), log10 target (n,) and date keys (n,)."""
    rng = np.random.default_rng(seed)
    n = n_dates * per_date
    latent = rng.uniform(0, 1, (n, 3))
    y = -1.0 + 1.5 * latent[:, 0] + 0.3 * rng.normal(size=n)
    dates = np.repeat([f"2024-06-{d + 1:02d}" for d in range(n_dates)], per_date)
    return turbid_spectra(latent, meta.grid_nm), y, dates


def test_linear_probe_of_a_constant_cell_is_zero_weights_and_the_mean():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(7, 5)), rng.normal(size=7)
    kw = {"grid": "demo", "inner_splits": 3, "seed": 0, "alpha": 0.1}
    w, b, cell = linear_probe(z, y, np.array(["2024-06-01"] * 7), **kw)  # one date
    assert cell.constant and np.array_equal(w, np.zeros(5))
    assert b == pytest.approx(sum(y) / 7, abs=1e-12)
    np.testing.assert_allclose(z @ w + b, cell.model.predict(z), atol=1e-12)
    # several dates, constant inputs: the grid only ties with the constant, which wins
    dates = np.repeat(["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04"], [2, 2, 2, 1])
    w, b, cell = linear_probe(np.ones((7, 5)), y, dates, **kw)
    assert cell.constant and len(cell.inner_splits) == 3
    assert np.array_equal(w, np.zeros(5)) and b == pytest.approx(sum(y) / 7, abs=1e-12)


def test_linear_probe_still_folds_a_ridge():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 4))
    y = z @ np.array([1.0, -0.5, 0.0, 0.2]) + 0.05 * rng.normal(size=40)
    dates = np.repeat([f"d{i}" for i in range(10)], 4)
    w, b, cell = linear_probe(z, y, dates, grid="demo", inner_splits=3, seed=0, alpha=0.1)
    assert not cell.constant and "alpha" in cell.best_params
    np.testing.assert_allclose(z @ w + b, cell.model.predict(z), atol=1e-9)


@pytest.mark.parametrize("probe_init", [True, False])
def test_one_date_keeps_the_mean_with_a_finite_leave_one_out_halfwidth(encoder, probe_init):
    model, meta = encoder
    x, y, dates = labelled(meta, n_dates=1, per_date=6)
    cfg = FullConfig(epochs=3, batch_size=4, probe_init=probe_init, **PROBE)
    fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=0, alpha=0.1, device=CPU)
    assert fit.n_val == 0 and fit.n_fit == 6 and fit.calibration == "probe"
    assert len(fit.history) == 1 and fit.best_epoch == 0  # no epoch trained: none could be picked
    np.testing.assert_allclose(fit.predict(x), sum(y) / 6, atol=1e-5)  # the constant
    # n = 6, alpha = 0.1: rank ceil(7 * 0.9) = 7 > 6, so the largest leave-one-out residual
    loo = [abs(y[i] - (sum(y) - y[i]) / 5) for i in range(6)]
    assert fit.halfwidth == pytest.approx(max(loo), rel=1e-9)
    if probe_init:  # the probe cell's own half-width, back in log10 units
        ys = (y - y.mean()) / y.std()
        probe = fit_cell(
            np.zeros((6, 1)),
            ys,
            dates,
            algorithm="ridge",
            feature_names=["e0"],
            grid="demo",
            inner_splits=3,
            seed=0,
            alpha=0.1,
        )
        assert fit.halfwidth == pytest.approx(probe.halfwidth * y.std(), rel=1e-9)
    one = fit_full(model, meta, x[:1], y[:1], dates[:1], cfg=cfg, seed=0, alpha=0.1, device=CPU)
    assert math.isinf(one.halfwidth)  # a single row: nothing to calibrate on


def test_few_dates_give_a_finite_capped_rank_halfwidth_and_never_lose_to_epoch_zero(encoder):
    model, meta = encoder
    x, y, dates = labelled(meta, n_dates=4, per_date=2, seed=1)
    cfg = FullConfig(epochs=4, batch_size=4, encoder_lr=1e-3, head_lr=1e-2, **PROBE)
    fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=0, alpha=0.1, device=CPU)
    _, val_idx = inner_validation_split(dates, val_fraction=cfg.val_fraction, seed=0)
    assert fit.n_val == val_idx.size == 2 and fit.calibration == "validation"
    # 2 validation residuals, alpha = 0.1: rank ceil(3 * 0.9) = 3 > 2, so the largest one
    resid = np.abs(y[val_idx] - fit.predict(x[val_idx]))
    assert np.isfinite(fit.halfwidth)
    assert fit.halfwidth == pytest.approx(float(resid.max()), rel=1e-6)
    val = [h["val_mse"] for h in fit.history]
    assert fit.history[fit.best_epoch]["val_mse"] == min(val) <= val[0]
    again = fit_full(model, meta, x, y, dates, cfg=cfg, seed=0, alpha=0.1, device=CPU)
    np.testing.assert_array_equal(again.predict(x), fit.predict(x))  # seeded
    assert again.history == fit.history and again.halfwidth == fit.halfwidth


def test_no_validation_by_choice_trains_every_epoch_and_says_uncalibrated(encoder):
    model, meta = encoder
    x, y, dates = labelled(meta, n_dates=4, per_date=2, seed=2)
    cfg = FullConfig(epochs=2, batch_size=4, val_fraction=0.0, **PROBE)
    fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=0, alpha=0.1, device=CPU)
    assert fit.n_val == 0 and fit.best_epoch == 2 and fit.calibration == "none"
    assert math.isinf(fit.halfwidth)
