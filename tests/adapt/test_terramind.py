"""TerraMind really runs (forward and backward, on the CPU) and its weights stay offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spectm.adapt.experiment import build_model
from spectm.adapt.fit import make_optimizer, task_loss, train_step
from spectm.adapt.terramind import build_terramind, find_pretrained_weights
from tests.adapt.test_factory import memory_chips, offline_empty_cache, tiny_config

BACKBONE = "terratorch_terramind_v1_tiny"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    offline_empty_cache(monkeypatch, tmp_path / "hf_empty")


@pytest.fixture(scope="module")
def chips():
    return memory_chips(n_scenes=3, per_scene=1, size=32)


def _fake_hub_cache(root: Path, state: dict[str, torch.Tensor]) -> None:
    """A Hugging Face cache layout holding ``state`` as the tiny TerraMind checkpoint."""
    repo = root / "models--ibm-esa-geospatial--TerraMind-1.0-tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    torch.save(state, snap / "TerraMind_v1_tiny.pt")


def test_offline_build_is_random_and_never_downloads(offline, one_thread):
    torch.manual_seed(0)
    enc, weights = build_terramind(BACKBONE, img_size=32, weights_path=None)
    assert weights == "random"
    assert enc.out_channels == 192 and enc.stride == 16
    z = enc(torch.zeros(2, 12, 32, 32))
    assert z.shape == (2, 192, 2, 2)
    with pytest.raises(ValueError, match="multiple of 16"):
        build_terramind(BACKBONE, img_size=40, weights_path=None)
    with pytest.raises(ValueError, match="unknown TerraMind backbone"):
        build_terramind("terratorch_terramind_v01_base", img_size=32, weights_path=None)
    with pytest.raises(FileNotFoundError):
        find_pretrained_weights(BACKBONE, "/nonexistent/terramind.pt")


def test_cached_or_configured_weights_are_loaded(tmp_path, offline, one_thread):
    torch.manual_seed(1)
    source, _ = build_terramind(BACKBONE, img_size=64, weights_path=None)  # other chip size
    state = {f"{k}": v for k, v in source.vit.state_dict().items()}
    state["decoder.extra.weight"] = torch.zeros(3)  # decoder keys of the full checkpoint: ignored
    _fake_hub_cache(tmp_path / "hub", state)
    assert find_pretrained_weights(BACKBONE, None, cache_dir=tmp_path / "hub") is not None
    torch.manual_seed(2)
    enc, weights = build_terramind(
        BACKBONE, img_size=32, weights_path=None, cache_dir=tmp_path / "hub"
    )
    assert weights == "pretrained"
    got = enc.vit.state_dict()
    for k, v in source.vit.state_dict().items():
        if not k.endswith("pos_emb"):  # the positional embedding is built for the chip size
            torch.testing.assert_close(got[k], v, msg=k)
    assert got["encoder_embeddings.untok_sen2l2a@224.pos_emb"].shape[1] == 4
    # a configured path, and a checkpoint that is not this backbone's
    path = tmp_path / "tm.pt"
    torch.save({"state_dict": state}, path)
    assert build_terramind(BACKBONE, img_size=32, weights_path=path)[1] == "pretrained"
    del state["encoder.3.mlp.fc1.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"no matching weights for 1 "):
        build_terramind(BACKBONE, img_size=32, weights_path=path)


@pytest.mark.parametrize("task", ["segmentation", "regression"])
def test_forward_and_backward_through_terramind(task, chips, offline, one_thread):
    torch.manual_seed(0)
    cfg = tiny_config()
    model, weights, backbone = build_model("learned", task, chips, cfg, n_classes=chips.n_classes)
    assert (weights, backbone) == ("random", BACKBONE)
    x = torch.from_numpy(chips.reflectance[:2])  # (2, 202, 32, 32), with NaN pixels
    out = model(x)
    if task == "segmentation":
        assert out.shape == (2, 3, 32, 32)
        y = torch.from_numpy(chips.label[:2])
    else:
        assert out.shape == (2,)
        y = torch.tensor([0.5, -0.5])
    loss, n = task_loss(task, out, y)
    assert n > 0 and torch.isfinite(loss)
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    for name in ("inputs.weight", "encoder.vit.encoder.0.attn.qkv.weight"):
        assert grads[name] is not None and torch.isfinite(grads[name]).all()
        assert grads[name].abs().sum() > 0, name
    assert grads["encoder.vit.encoder_embeddings.untok_sen2l2a@224.proj.weight"].abs().sum() > 0
    decay, plain = make_optimizer(model, lr=1e-4, weight_decay=0.01).param_groups
    assert any(p is model.inputs.weight for p in plain["params"])  # learned: never decayed
    assert not any(p is model.inputs.weight for p in decay["params"])
    assert decay["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0


@pytest.mark.parametrize(("task", "method"), [("segmentation", "naive"), ("regression", "srf")])
def test_loss_decreases_on_a_learnable_toy(task, method, chips, offline, one_thread):
    """Class blocks / per-chip vegetation fraction are learnable from the spectra."""
    torch.manual_seed(0)
    cfg = tiny_config()
    model, _, _ = build_model(method, task, chips, cfg, n_classes=chips.n_classes)
    x = torch.from_numpy(chips.reflectance)  # (3, 202, 32, 32)
    if task == "segmentation":
        y = torch.from_numpy(chips.label)
    else:
        t = chips.target
        y = torch.as_tensor((t - t.mean()) / t.std(), dtype=torch.float32)
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.01)
    model.train()
    losses = [train_step(model, opt, task, x, y, torch.device("cpu")) for _ in range(10)]
    assert all(v is not None and np.isfinite(v) for v in losses)
    assert losses[-1] < 0.75 * losses[0], losses  # steady descent, not noise


def test_building_terramind_leaves_the_matmul_precision_alone(tmp_path):
    """terratorch's import sets float32 matmul precision to "medium" process-wide; we undo it.

    Run in a fresh interpreter: in this one terratorch may be imported already.
    """
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from spectm.adapt.terramind import build_terramind\n"
        "build_terramind('terratorch_terramind_v1_tiny', img_size=32, weights_path=None,"
        f" cache_dir={str(tmp_path)!r})\n"
        "print(torch.get_float32_matmul_precision())\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "highest"
