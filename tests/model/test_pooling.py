"""Pooling of SpecTM embeddings: ``embed(..., pooling=...)`` with ``cls``, ``mean`` and ``window``.

The model is an untrained (seeded) tiny SpecTM with hand-made metadata: pooling is arithmetic on
the encoder output, so trained weights add nothing. Expectations come from the encoder's own
tokens, inputs built here with numpy and window bands listed by hand.
"""

import numpy as np
import pytest
import torch

from spectm.model.encoder import SpecTM, preset_config
from spectm.model.pretrained import POOLINGS, ModelMeta, embed
from spectm.spectral.grids import paper_grid

WL = paper_grid()  # 415-717.5 nm every 2.5 nm
WINDOWS = [[615.0, 640.0], [660.0, 680.0]]
# the bands in [615, 640) and [660, 680) on the paper grid, listed by hand
WINDOW_NM = [615.0 + 2.5 * k for k in range(10)] + [660.0 + 2.5 * k for k in range(8)]


def _meta() -> ModelMeta:
    rng = np.random.default_rng(3)
    return ModelMeta(
        model_config=preset_config("tiny", n_bands=WL.size).to_dict(),
        pretrain_config={"preset": "tiny"},
        grid="paper",
        wavelengths_nm=[float(w) for w in WL],
        gap_filled_nm=[],
        norm_mean=list(rng.uniform(0.002, 0.01, WL.size)),
        norm_std=list(rng.uniform(0.001, 0.004, WL.size)),
        index_names=["ci"],
        index_center=[0.0],
        index_scale=[1.0],
        index_tolerance_nm=5.0,
        mask_strategy="targeted",
        mask_windows_nm=WINDOWS,
        corpus={"path": "corpus.parquet", "n_train": 1, "n_val": 0},
    )


@pytest.fixture(scope="module")
def setup():
    """Model, meta, 5 spectra (sr-1) with NaN bands, and the encoder's own output for them."""
    torch.manual_seed(0)
    meta = _meta()
    model = SpecTM(preset_config("tiny", n_bands=WL.size)).eval()
    rng = np.random.default_rng(7)
    spectra = rng.uniform(0.001, 0.02, (5, WL.size))
    spectra[0, :10] = np.nan  # blue bands missing
    spectra[1, np.isin(WL, [617.5, 620.0, 665.0])] = np.nan  # inside the windows
    z = (spectra - np.asarray(meta.norm_mean)) / np.asarray(meta.norm_std)
    mask = np.isnan(spectra)
    with torch.no_grad():
        _, tokens = model.encode(
            torch.tensor(np.nan_to_num(z), dtype=torch.float32),
            torch.tensor(WL, dtype=torch.float32),
            torch.from_numpy(mask),
        )
        forward, _ = model(
            torch.tensor(np.nan_to_num(z), dtype=torch.float32),
            torch.tensor(WL, dtype=torch.float32),
            torch.from_numpy(mask),
        )
    return model, meta, spectra, mask, tokens.numpy().astype(float), forward["embedding"].numpy()


def test_cls_is_bit_identical_to_the_forward_pass_embedding(setup):
    model, meta, spectra, _, _, forward = setup
    np.testing.assert_array_equal(embed(model, meta, spectra, pooling="cls"), forward)
    np.testing.assert_array_equal(embed(model, meta, spectra), forward)  # the default


def test_mean_is_the_mean_of_the_tokens_over_the_visible_bands(setup):
    model, meta, spectra, mask, tokens, _ = setup
    got = embed(model, meta, spectra, pooling="mean", batch_size=2)
    assert got.shape == (5, model.cfg.d_model) and got.dtype == np.float32
    for i in range(len(spectra)):
        visible = np.flatnonzero(~mask[i])
        assert visible.size == (112 if i == 0 else 119 if i == 1 else 122)
        np.testing.assert_allclose(got[i], tokens[i, visible].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_window_is_the_mean_of_the_tokens_inside_the_windows(setup):
    model, meta, spectra, mask, tokens, _ = setup
    got = embed(model, meta, spectra, pooling="window")
    inside = np.isin(WL, WINDOW_NM)
    assert inside.sum() == 18
    for i in range(len(spectra)):
        bands = np.flatnonzero(inside & ~mask[i])
        assert bands.size == (15 if i == 1 else 18)  # row 1 lacks three window bands
        np.testing.assert_allclose(got[i], tokens[i, bands].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, embed(model, meta, spectra, pooling="mean"), atol=1e-3)


def test_mean_with_hidden_windows_pools_the_other_bands(setup):
    model, meta, spectra, _, _, _ = setup
    got = embed(model, meta, spectra[2:], pooling="mean", hide_windows=True)
    hidden = np.isin(WL, WINDOW_NM)
    z = (spectra[2:] - np.asarray(meta.norm_mean)) / np.asarray(meta.norm_std)
    with torch.no_grad():
        _, tokens = model.encode(
            torch.tensor(z, dtype=torch.float32),
            torch.tensor(WL, dtype=torch.float32),
            torch.from_numpy(np.broadcast_to(hidden, z.shape).copy()),
        )
    expected = tokens.numpy()[:, ~hidden].mean(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_unknown_pooling_and_nothing_to_pool_raise(setup):
    model, meta, spectra, _, _, _ = setup
    assert POOLINGS == ("cls", "mean", "window")
    with pytest.raises(ValueError, match=r"unknown pooling 'max'; expected one of \('cls', 'mean'"):
        embed(model, meta, spectra, pooling="max")
    with pytest.raises(ValueError, match=r"pooling 'window': spectrum row 0 has no visible band"):
        embed(model, meta, spectra, pooling="window", hide_windows=True)
    no_window = spectra[2:4].copy()
    no_window[1, np.isin(WL, WINDOW_NM)] = np.nan
    with pytest.raises(ValueError, match="spectrum row 1 has no visible band inside the diag"):
        embed(model, meta, no_window, pooling="window")
