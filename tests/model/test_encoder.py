"""SpecTM model, masking strategies and the multi-task loss."""

import numpy as np
import pytest
import torch

from spectm.model.encoder import (
    POOLINGS,
    PRESETS,
    SpecTM,
    SpecTMConfig,
    count_parameters,
    pool,
    preset_config,
)
from spectm.model.losses import spectm_loss
from spectm.model.masking import DEFAULT_WINDOWS_NM, make_mask, window_mask
from spectm.spectral.grids import model_grid, paper_grid

WEIGHTS = {"w_rec": 1.0, "w_idx": 0.5, "w_temp": 0.3}


def _batch(n: int, n_bands: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_bands, generator=g)


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [("paper", 4_500_000, 7_000_000), ("small", 500_000, 1_500_000), ("tiny", 50_000, 500_000)],
)
def test_presets_shapes_and_parameter_counts(name, lo, hi):
    torch.manual_seed(0)
    model = SpecTM(preset_config(name))
    n = count_parameters(model)
    print(f"SpecTM {name}: {n:,} parameters")
    assert lo <= n <= hi
    wl = torch.tensor(paper_grid(), dtype=torch.float32)
    x = _batch(3, 122)
    mask = torch.from_numpy(make_mask("targeted", paper_grid(), 3))
    out, loss = model(x, wl, mask)
    assert loss is None
    d = model.cfg.d_model
    assert out["embedding"].shape == (3, d)
    assert out["reconstruction"].shape == (3, 122)
    assert out["future"].shape == (3, 122)
    assert out["indices"].shape == (3, model.cfg.n_indices)


def test_paper_preset_matches_paper_architecture():
    cfg = preset_config("paper")
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads) == (6, 256, 8)
    assert (cfg.w_rec, cfg.w_idx, cfg.w_temp) == (1.0, 0.5, 0.3)


def test_small_preset_sits_between_tiny_and_paper():
    assert set(PRESETS) == {"tiny", "small", "paper"}
    cfg = preset_config("small")
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads) == (4, 128, 4)
    assert (cfg.w_rec, cfg.w_idx, cfg.w_temp) == (1.0, 0.5, 0.3)  # the paper's loss weights
    n = {name: count_parameters(SpecTM(preset_config(name))) for name in ("tiny", "small", "paper")}
    assert n["tiny"] < n["small"] < n["paper"]
    # the blocks dominate: 12 d^2 weights per layer, so small has ~8x tiny's block weights
    blocks = {k: 12 * c.n_layers * c.d_model**2 for k, c in PRESETS.items()}
    assert blocks["small"] == 8 * blocks["tiny"] and blocks["paper"] == 6 * blocks["small"]


def _tokens(n: int, n_bands: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_bands, d, generator=g)


def test_pool_cls_mean_and_window_against_hand_computed_means():
    cls_state, tokens = torch.randn(2, 4), _tokens(2, 5, 4, seed=1)
    mask = torch.tensor([[False, True, False, False, True], [True, False, False, False, False]])
    window = torch.tensor([False, True, True, False, False])
    assert POOLINGS == ("cls", "mean", "window")
    assert pool(cls_state, tokens, mask, "cls") is cls_state
    t = tokens.numpy()
    mean = pool(cls_state, tokens, mask, "mean").numpy()
    np.testing.assert_allclose(mean[0], (t[0, 0] + t[0, 2] + t[0, 3]) / 3, rtol=1e-6)
    np.testing.assert_allclose(mean[1], t[1, 1:].mean(axis=0), rtol=1e-6)
    win = pool(cls_state, tokens, mask, "window", window).numpy()
    np.testing.assert_allclose(win[0], t[0, 2], rtol=1e-6)  # band 1 is masked
    np.testing.assert_allclose(win[1], (t[1, 1] + t[1, 2]) / 2, rtol=1e-6)


def test_pool_errors_name_the_allowed_values_and_the_empty_row():
    cls_state, tokens = torch.zeros(2, 4), _tokens(2, 3, 4, seed=0)
    mask = torch.tensor([[False, False, False], [False, True, True]])
    with pytest.raises(ValueError, match=r"unknown pooling 'max'.*\('cls', 'mean', 'window'\)"):
        pool(cls_state, tokens, mask, "max")
    with pytest.raises(ValueError, match="needs the window bands"):
        pool(cls_state, tokens, mask, "window")
    with pytest.raises(ValueError, match="row 1 has no visible band"):
        pool(cls_state, tokens, mask, "window", torch.tensor([False, True, True]))


def test_any_band_grid_works():
    model = SpecTM(preset_config("tiny"))
    wl = model_grid("native")  # 172 PACE bands, irregular spacing
    mask = torch.from_numpy(make_mask("targeted", wl, 2))
    out, _ = model(_batch(2, wl.size), torch.tensor(wl, dtype=torch.float32), mask)
    assert out["reconstruction"].shape == (2, 172)


def test_targeted_mask_is_exactly_the_windows_on_the_paper_grid():
    wl = paper_grid()
    mask = make_mask("targeted", wl, 4)
    assert mask.shape == (4, 122)
    assert (mask.sum(axis=1) == 28).all()
    expected = np.concatenate(
        [np.arange(615, 640, 2.5), np.arange(660, 680, 2.5), np.arange(695, 720, 2.5)]
    )
    np.testing.assert_array_equal(wl[mask[0]], expected)
    assert (mask == mask[0]).all()


def test_window_mask_is_half_open_and_in_nm():
    wl = np.array([614.9, 615.0, 639.9, 640.0, 660.0, 680.0, 719.9, 720.0])
    np.testing.assert_array_equal(
        window_mask(wl), [False, True, True, False, True, False, True, False]
    )
    with pytest.raises(ValueError, match="lo < hi"):
        window_mask(wl, [(640.0, 615.0)])
    with pytest.raises(ValueError, match="contain none"):
        make_mask("targeted", np.array([400.0, 500.0]), 1)


def test_random_mask_same_count_per_sample_seeded_and_eligible_only():
    wl = paper_grid()
    eligible = ~((wl >= 590) & (wl <= 612.5))
    a = make_mask("random", wl, 64, rng=np.random.default_rng(1), eligible=eligible)
    b = make_mask("random", wl, 64, rng=np.random.default_rng(1), eligible=eligible)
    c = make_mask("random", wl, 64, rng=np.random.default_rng(2), eligible=eligible)
    assert (a.sum(axis=1) == 28).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len({row.tobytes() for row in a}) > 60  # drawn per sample
    assert not a[:, ~eligible].any()
    with pytest.raises(ValueError, match="seeded"):
        make_mask("random", wl, 2)


def test_none_mask_and_unknown_strategy():
    assert not make_mask("none", paper_grid(), 3).any()
    with pytest.raises(ValueError, match="unknown mask strategy"):
        make_mask("blocks", paper_grid(), 3)


def test_masked_values_do_not_leak_into_outputs():
    torch.manual_seed(0)
    model = SpecTM(preset_config("tiny")).eval()
    wl_np = paper_grid()
    wl = torch.tensor(wl_np, dtype=torch.float32)
    mask = torch.from_numpy(make_mask("targeted", wl_np, 2))
    x = _batch(2, 122)
    x2 = x.clone()
    x2[mask] = 100.0 + torch.randn(int(mask.sum()))  # change only hidden values
    out1, _ = model(x, wl, mask)
    out2, _ = model(x2, wl, mask)
    for key in out1:
        torch.testing.assert_close(out1[key], out2[key], rtol=0, atol=0)
    x3 = x.clone()
    x3[~mask] += 1.0  # visible values do matter
    out3, _ = model(x3, wl, mask)
    assert not torch.allclose(out1["reconstruction"], out3["reconstruction"])


def _outputs(n: int, n_bands: int, n_idx: int, seed: int) -> dict[str, torch.Tensor]:
    return {
        "reconstruction": _batch(n, n_bands, seed),
        "indices": _batch(n, n_idx, seed + 1),
        "future": _batch(n, n_bands, seed + 2),
    }


def test_reconstruction_loss_only_on_masked_bands():
    mask = torch.from_numpy(make_mask("targeted", paper_grid(), 5))
    targets = {"spectrum": _batch(5, 122, 10)}
    out = _outputs(5, 122, 6, 0)
    base = spectm_loss(out, targets, mask, **WEIGHTS)["rec"]
    changed = dict(out)
    changed["reconstruction"] = torch.where(mask, out["reconstruction"], 1e3)
    assert spectm_loss(changed, targets, mask, **WEIGHTS)["rec"] == base
    changed["reconstruction"] = torch.where(mask, out["reconstruction"] + 1.0, 1e3)
    assert spectm_loss(changed, targets, mask, **WEIGHTS)["rec"] != base
    expected = ((out["reconstruction"] - targets["spectrum"])[mask] ** 2).mean()
    torch.testing.assert_close(base, expected)


def test_nan_targets_ignored_and_weights_applied():
    mask = torch.from_numpy(make_mask("targeted", paper_grid(), 4))
    out = _outputs(4, 122, 3, 0)
    idx_t = _batch(4, 3, 20)
    idx_t[0, 1] = float("nan")
    fut_t = torch.full((4, 122), float("nan"))
    fut_t[2] = _batch(1, 122, 30)[0]  # one row has a future spectrum
    targets = {"spectrum": _batch(4, 122, 10), "indices": idx_t, "future": fut_t}
    parts = spectm_loss(out, targets, mask, **WEIGHTS)
    ok = torch.isfinite(idx_t)
    torch.testing.assert_close(parts["idx"], ((out["indices"] - idx_t)[ok] ** 2).mean())
    torch.testing.assert_close(parts["temp"], ((out["future"][2] - fut_t[2]) ** 2).mean())
    torch.testing.assert_close(
        parts["total"], parts["rec"] + 0.5 * parts["idx"] + 0.3 * parts["temp"]
    )
    targets["future"] = torch.full((4, 122), float("nan"))  # no row with a future
    assert spectm_loss(out, targets, mask, **WEIGHTS)["temp"] == 0.0


def test_none_masking_has_zero_reconstruction_term_but_trains_other_heads():
    torch.manual_seed(0)
    model = SpecTM(preset_config("tiny", n_indices=2))
    wl = torch.tensor(paper_grid(), dtype=torch.float32)
    mask = torch.from_numpy(make_mask("none", paper_grid(), 3))
    x = _batch(3, 122)
    targets = {"spectrum": x, "indices": _batch(3, 2, 5), "future": _batch(3, 122, 6)}
    _, losses = model(x, wl, mask, targets)
    assert losses is not None
    assert losses["rec"] == 0.0
    assert torch.isfinite(losses["total"]) and losses["total"] > 0
    losses["total"].backward()
    assert model.rec_head.out.weight.grad is not None
    assert float(model.rec_head.out.weight.grad.abs().sum()) == 0.0
    assert float(model.blocks[0].attn.qkv.weight.grad.abs().sum()) > 0.0


def test_config_validation_and_roundtrip():
    with pytest.raises(ValueError, match="divisible"):
        SpecTMConfig(d_model=65, n_heads=4)
    with pytest.raises(ValueError, match="unknown SpecTM preset"):
        preset_config("huge")
    with pytest.raises(ValueError, match="unknown SpecTM config keys"):
        SpecTMConfig.from_dict({"n_layer": 3})
    cfg = preset_config("tiny", n_bands=172)
    assert SpecTMConfig.from_dict(cfg.to_dict()) == cfg
    assert DEFAULT_WINDOWS_NM == ((615.0, 640.0), (660.0, 680.0), (695.0, 720.0))


def test_temporal_head_is_the_mlp_of_token_and_pooled_concatenated():
    from spectm.model.heads import TemporalHead

    torch.manual_seed(0)
    head = TemporalHead(8)
    tokens, pooled = torch.randn(3, 5, 8), torch.randn(3, 8)
    joined = torch.cat([tokens, pooled[:, None, :].expand(3, 5, 8)], dim=-1)  # (3, 5, 16)
    expect = head.net(joined).squeeze(-1)  # the MLP applied to [token, pooled], written out
    torch.testing.assert_close(head(tokens, pooled), expect, rtol=1e-5, atol=1e-6)
