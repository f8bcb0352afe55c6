"""The pretraining loop, checkpoint/resume, early stopping and model loading.

The ``corpus_path`` fixture (a generated 300-row corpus) is in conftest.py.
"""

import importlib
import json
import math
import re
import subprocess
import sys
import time
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
import torch

import spectm.train.pretrain as pretrain_module
from spectm.io.corpus import read_corpus, write_corpus
from spectm.model.device import resolve_device
from spectm.model.encoder import SpecTM, SpecTMConfig
from spectm.model.pretrained import RunSummary, embed, load_pretrained
from spectm.train.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    TrainState,
    load_checkpoint,
    save_checkpoint,
)
from spectm.train.pretrain import PretrainConfig, prepare_data, pretrain
from tests.conftest import pretrain_config


def micro(**kw) -> PretrainConfig:
    base = dict(
        preset="tiny",
        model={"n_layers": 1, "d_model": 16, "n_heads": 2},
        batch_size=32,
        max_epochs=2,
        checkpoint_every=3,
        device="cpu",
        num_threads=1,
        progress=False,
        lr=1e-3,
    )
    return pretrain_config(**{**base, **kw})


# ---------------------------------------------------------------- training


def test_pretrain_outputs_checkpoint_and_embed(corpus_path, tmp_path):
    model_path = pretrain(corpus_path, tmp_path, micro(max_epochs=1))
    for name in ("model.pt", "checkpoint.pt", "config.json", "losses.csv"):
        assert (tmp_path / name).exists()
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt.state.finished and ckpt.state.stop is False
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert list(losses.columns) == ["step", "epoch", "split", "rec", "idx", "temp", "total"]
    assert (losses["split"] == "val").sum() == 1 and losses["temp"].eq(0).all()
    model, meta = load_pretrained(model_path)
    assert ckpt.meta == meta and ckpt.state.step == meta.summary.final_step
    assert ckpt.state.best_step == meta.summary.best_step and ckpt.state.best_model is not None
    assert meta.index_names == ["NDCI", "CI_cyano", "SS665", "PC_709_620", "PC_650_625", "CI_Hu"]
    assert (
        json.loads((tmp_path / "config.json").read_text())["final_step"] == meta.summary.final_step
    )
    df = read_corpus(corpus_path)
    spectra = df.filter(like="Rrs_").iloc[:5, :122].to_numpy(copy=True)
    e = embed(model, meta, spectra)
    assert e.shape == (5, 16) and e.dtype == np.float32
    spectra[0, 3] = np.nan  # a missing band is masked, not an error
    assert np.isfinite(embed(model, meta, spectra, hide_windows=True)).all()
    with pytest.raises(ValueError, match="model expects"):
        embed(model, meta, spectra[:, :100])


def test_bf16_autocast_path_trains_and_saves_float32_weights(corpus_path, tmp_path, monkeypatch):
    """The CUDA path autocasts to bfloat16; run that same path on the CPU (no GPU in CI)."""
    pretrain_module = importlib.import_module("spectm.train.pretrain")  # not the function

    used = []

    def bf16(device):
        used.append(device.type)
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(pretrain_module, "autocast", bf16)
    model_path = pretrain(corpus_path, tmp_path, micro(max_epochs=1, mask_strategy="targeted"))
    assert used  # the training and validation steps went through the bf16 context
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert np.isfinite(losses[["rec", "idx", "total"]].to_numpy()).all()
    model, _ = load_pretrained(model_path)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_early_stopping_triggers(corpus_path, tmp_path):
    # an improvement must exceed min_delta: after the first epoch none does
    pretrain(corpus_path, tmp_path, micro(max_epochs=20, patience=2, min_delta=1e9))
    _, meta = load_pretrained(tmp_path / "model.pt")
    assert meta.summary.stopped_early and meta.summary.epochs_run == 3
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert (losses["split"] == "val").sum() == 3


def test_device_override_cpu_and_unavailable_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu9")


def test_config_roundtrip_validation_and_max_steps(corpus_path, tmp_path):
    cfg = micro(max_steps=2, max_epochs=5, mask_windows_nm=[[660, 680]])
    assert PretrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown pretrain config keys"):
        PretrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="mask_strategy"):
        micro(mask_strategy="blocks")
    pretrain(corpus_path, tmp_path, cfg)
    _, meta = load_pretrained(tmp_path / "model.pt")
    assert meta.summary.final_step == 2 and meta.mask_windows_nm == [[660.0, 680.0]]
    assert (pd.read_csv(tmp_path / "losses.csv")["split"] == "val").sum() == 1


def test_a_changed_config_or_corpus_starts_afresh(corpus_path, tmp_path, caplog):
    pretrain(corpus_path, tmp_path, micro(max_epochs=1))
    first_ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    first, first_n = first_ckpt.state, first_ckpt.meta.corpus["n_train"]
    with caplog.at_level("WARNING", logger="spectm.train.pretrain"):
        pretrain(corpus_path, tmp_path, micro(max_epochs=1, lr=5e-4))  # a weekly refresh's edit
    assert "config keys ['lr'] differ from the checkpoint; starting afresh" in caplog.text
    assert (tmp_path / "checkpoint.pt.stale").exists()  # set aside, not deleted
    again = load_checkpoint(tmp_path / "checkpoint.pt")
    assert again.state.finished and again.state.resumed_from == []  # a new run, not a resume
    assert again.state.step == first.step and again.meta.pretrain_config["lr"] == 5e-4
    # a grown corpus (new granules): also a new run
    grown = read_corpus(corpus_path)
    extra = grown[grown["split"] == "train"].head(8)
    bigger = write_corpus(pd.concat([grown, extra], ignore_index=True), tmp_path / "bigger.parquet")
    caplog.clear()
    with caplog.at_level("WARNING", logger="spectm.train.pretrain"):
        pretrain(bigger, tmp_path, micro(max_epochs=1, lr=5e-4))
    assert "the corpus differs from the one it was trained on; starting afresh" in caplog.text
    assert load_checkpoint(tmp_path / "checkpoint.pt").meta.corpus["n_train"] == first_n + 8


def test_a_failed_rerun_keeps_the_last_finished_model(corpus_path, tmp_path, monkeypatch, caplog):
    """Snakemake deletes model.pt and losses.csv before a rerun and again when it fails; the
    copy in last-good/ is not an output and stays the last model that finished."""
    model = pretrain(corpus_path, tmp_path, micro(max_epochs=1))
    kept = tmp_path / "last-good" / "model.pt"
    assert kept.read_bytes() == model.read_bytes()
    assert (tmp_path / "last-good" / "losses.csv").read_bytes() == (
        tmp_path / "losses.csv"
    ).read_bytes()
    before = kept.read_bytes()
    model.unlink()  # what Snakemake does before it reruns the job
    (tmp_path / "losses.csv").unlink()

    def broken_step(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(pretrain_module, "_train_step", broken_step)
    with caplog.at_level("ERROR", logger="spectm.train.pretrain"):
        with pytest.raises(RuntimeError, match="simulated"):
            pretrain(corpus_path, tmp_path, micro(max_epochs=1, lr=5e-4))  # a changed setting
    assert kept.read_bytes() == before
    assert f"the last finished run is still in {tmp_path / 'last-good'}" in caplog.text
    monkeypatch.undo()
    # a later rerun that finishes replaces the copy
    again = pretrain(corpus_path, tmp_path, micro(max_epochs=1, lr=5e-4))
    assert kept.read_bytes() == again.read_bytes() != before


def _same(a, b) -> bool:
    """Equal values: tensors bit for bit, containers element-wise, types included."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def test_train_state_roundtrips_through_a_checkpoint_file(corpus_path, tmp_path):
    _, _, meta = prepare_data(read_corpus(corpus_path), micro(), str(corpus_path))
    model = SpecTM(SpecTMConfig.from_dict(meta.model_config))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    n_bands = len(meta.wavelengths_nm)
    x, wl = torch.zeros(2, n_bands), torch.tensor(meta.wavelengths_nm, dtype=torch.float32)
    outputs, _ = model(x, wl, torch.zeros(2, n_bands, dtype=torch.bool))
    outputs["embedding"].sum().backward()
    opt.step()  # the optimiser now has per-parameter state
    summary = RunSummary(0.25, 5, 7, 2, False, [3], 123, str(torch.__version__))
    best = {k: v.detach().clone() + 1 for k, v in model.state_dict().items()}
    state = TrainState(
        step=7,
        epoch=1,
        batch_in_epoch=2,
        stop=True,
        finished=True,
        best_val=0.25,
        best_step=5,
        best_model=best,
        epochs_since_best=1,
        loss_log=[
            dict(step=7, epoch=1, split="train", rec=0.5, idx=0.25, temp=0.0, total=0.75),
            dict(step=7, epoch=1, split="val", rec=0.4, idx=0.2, temp=0.0, total=0.6),
        ],
        resumed_from=[3],
        rng_torch=torch.Generator().manual_seed(11).get_state(),
        rng_cuda=[],
    )
    ckpt = Checkpoint(state, model.state_dict(), opt.state_dict(), meta.with_summary(summary))
    path = save_checkpoint(ckpt, tmp_path / "run" / CHECKPOINT_NAME)
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt", "config.json"]

    got = load_checkpoint(path)
    for f in fields(TrainState):
        assert _same(getattr(got.state, f.name), getattr(state, f.name)), f.name
    assert _same(got.model, ckpt.model) and _same(got.optimizer, ckpt.optimizer)
    assert got.meta == ckpt.meta and got.meta.summary == summary
    assert json.loads((path.parent / "config.json").read_text()) == json.loads(
        json.dumps(ckpt.meta.to_dict())
    )
    # plain values and tensors only; the state is stored by field name
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"model", "optimizer", "meta", "state"}
    assert set(blob["state"]) == {f.name for f in fields(TrainState)}

    # a run that has not started: the defaults survive too (inf, None, empty lists)
    fresh = TrainState()
    save_checkpoint(Checkpoint(fresh, model.state_dict(), opt.state_dict(), meta), path)
    got = load_checkpoint(path)
    assert math.isinf(got.state.best_val) and got.state.best_model is None
    assert got.state.best_step == -1 and got.state.loss_log == [] and got.state.resumed_from == []
    assert torch.equal(got.state.rng_torch, fresh.rng_torch) and got.meta.summary is None


def test_old_or_foreign_checkpoint_is_a_clear_error_naming_the_file(corpus_path, tmp_path):
    _, _, meta = prepare_data(read_corpus(corpus_path), micro(), str(corpus_path))
    out = tmp_path / "run"
    out.mkdir()
    path = out / CHECKPOINT_NAME
    # the previous format: one flat dict of model, optimizer, meta and the progress keys
    old = {"model": {}, "optimizer": {}, "meta": meta.to_dict(), "step": 3, "epoch": 0,
           "batch_in_epoch": 3, "stop": False, "finished": False, "best_val": math.inf,
           "rng_torch": torch.get_rng_state(), "rng_cuda": [], "loss_log": []}  # fmt: skip
    torch.save(old, path)
    name = re.escape(str(path))
    not_a_checkpoint = rf"{name} is not a SpecTM pretraining checkpoint of this version"
    with pytest.raises(ValueError, match=rf"{not_a_checkpoint} \(missing \['state'\]\)"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=not_a_checkpoint):
        pretrain(corpus_path, out, micro(max_epochs=1))  # resuming says so too, no KeyError
    assert not (out / "model.pt").exists()

    state = {f.name: getattr(TrainState(), f.name) for f in fields(TrainState)}
    del state["rng_torch"]
    torch.save({"model": {}, "optimizer": {}, "meta": meta.to_dict(), "state": state}, path)
    with pytest.raises(ValueError, match=rf"{name} .*missing \['state\.rng_torch'\]"):
        load_checkpoint(path)
    torch.save(torch.zeros(3), path)  # a torch file, but not a dict
    with pytest.raises(ValueError, match=not_a_checkpoint):
        load_checkpoint(path)
    path.write_text("not a torch file")
    with pytest.raises(ValueError, match=rf"{name}: not a readable torch file"):
        load_checkpoint(path)
    meta_dict = meta.to_dict()
    del meta_dict["norm_mean"]
    state = {f.name: getattr(TrainState(), f.name) for f in fields(TrainState)}
    torch.save({"model": {}, "optimizer": {}, "meta": meta_dict, "state": state}, path)
    with pytest.raises(ValueError, match=rf"{name}: not SpecTM model metadata.*norm_mean"):
        load_checkpoint(path)

    # as the message says: resume=False starts afresh over it
    pretrain(corpus_path, out, micro(max_epochs=1, resume=False))
    assert load_checkpoint(path).state.finished and (out / "model.pt").exists()


_RUN = """
import json, sys
from spectm.train.pretrain import PretrainConfig, pretrain
pretrain(sys.argv[1], sys.argv[2], PretrainConfig.from_dict(json.loads(sys.argv[3])))
"""


def test_kill_and_resume_matches_uninterrupted_run(corpus_path, tmp_path):
    cfg = pretrain_config(
        preset="tiny",
        # dropout draws from the torch RNG: its state must be restored on resume
        model={"n_layers": 1, "d_model": 16, "n_heads": 2, "dropout": 0.1},
        mask_strategy="random",
        batch_size=16,
        max_epochs=4,  # long enough that a busy machine still kills it mid-run
        checkpoint_every=3,
        device="cpu",
        num_threads=1,
        progress=False,
    )
    killed = tmp_path / "killed"
    args = [sys.executable, "-c", _RUN, str(corpus_path), str(killed), json.dumps(cfg.to_dict())]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert proc.poll() is None, "pretraining exited before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    assert not (killed / "model.pt").exists(), "run finished before it could be killed"
    step_at_kill = load_checkpoint(killed / "checkpoint.pt").state.step
    assert step_at_kill > 0

    pretrain(corpus_path, killed, cfg)  # resume
    straight = tmp_path / "straight"
    pretrain(corpus_path, straight, cfg)

    a, meta_a = load_pretrained(killed / "model.pt")
    b, meta_b = load_pretrained(straight / "model.pt")
    assert meta_a.summary.resumed_from == [step_at_kill] and meta_b.summary.resumed_from == []
    assert step_at_kill < meta_a.summary.final_step == meta_b.summary.final_step
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    pd.testing.assert_frame_equal(
        pd.read_csv(killed / "losses.csv"), pd.read_csv(straight / "losses.csv")
    )
