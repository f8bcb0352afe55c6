"""Pretraining's guards: index-target scaling, never resuming on another corpus or config,
and the configured mask windows reaching every batch.

Found missing by the mutation run of ``train/pretrain.py`` (docs/testing.md).
"""

import importlib

import numpy as np
import pytest

from spectm.io.corpus import read_corpus, write_corpus
from spectm.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from spectm.train.pretrain import _robust_scale, pretrain
from tests.conftest import tiny_pretrain_config


def test_robust_scale_median_iqr_and_its_fallbacks():
    values = np.array(
        [
            [1.0, 5.0, 7.0, 3.0],
            [2.0, 5.0, 7.0, np.nan],
            [3.0, 5.0, 7.0, np.nan],
            [4.0, 5.0, 7.0, np.nan],
            [np.nan, 6.0, np.nan, np.nan],
        ]
    )
    center, scale = _robust_scale(values, ["a", "b", "c", "d"])
    # a: quartiles 1.75, 2.5, 3.25 (linear); b: IQR 0 -> the std of 5, 5, 5, 5, 6 (0.4);
    # c: IQR and std 0 -> 1; d: a single value -> 1
    np.testing.assert_allclose(center, [2.5, 5.0, 7.0, 3.0])
    np.testing.assert_allclose(scale, [1.5 / 1.349, 0.4, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"^index target NDCI is NaN for every training spectrum$"):
        _robust_scale(np.array([[1.0, np.nan], [2.0, np.nan]]), ["CI", "NDCI"])


def test_another_corpus_or_config_is_never_resumed(corpus_path, tmp_path, caplog):
    """Same row count but other values, one training row less, a config key only the checkpoint
    has: each is a new run (checkpoint set aside as ``.stale``, training from step 0), never a
    resume. tests/train/test_pretrain.py covers a changed ``lr`` and a grown corpus."""
    cfg = tiny_pretrain_config(max_steps=1)
    df = read_corpus(corpus_path)
    rrs = [c for c in df.columns if c.startswith("Rrs_")]
    brighter = df.copy()
    brighter[rrs] = brighter[rrs] * 1.01  # same rows, other values
    fewer = df.drop(index=df.index[df["split"] == "train"][:1])  # one training row less
    corpus_cases = {"brighter": brighter, "fewer": fewer}
    for name in [*corpus_cases, "extra_key"]:
        out = tmp_path / name
        pretrain(corpus_path, out, cfg)
        ckpt = out / CHECKPOINT_NAME
        if name == "extra_key":  # a config key that only the checkpoint has is a difference too
            saved = load_checkpoint(ckpt)
            saved.meta.pretrain_config["extra_key"] = 1
            save_checkpoint(saved, ckpt)
            path, why = corpus_path, "config keys ['extra_key'] differ from the checkpoint"
        else:
            path = write_corpus(corpus_cases[name], tmp_path / f"{name}.parquet")
            why = "the corpus differs from the one it was trained on"
        caplog.clear()
        with caplog.at_level("WARNING", logger="spectm.train.pretrain"):
            pretrain(path, out, cfg)
        assert f"{ckpt}: {why}; starting afresh" in caplog.text, name
        assert (out / f"{CHECKPOINT_NAME}.stale").is_file(), name
        again = load_checkpoint(ckpt)
        assert again.state.resumed_from == [] and "extra_key" not in again.meta.pretrain_config
        assert again.meta.corpus["n_train"] == int((read_corpus(path)["split"] == "train").sum())


def test_configured_mask_windows_reach_every_batch(corpus_path, tmp_path, monkeypatch):
    module = importlib.import_module("spectm.train.pretrain")
    seen = []
    real = module.make_mask

    def spy(strategy, wavelengths_nm, n_samples, **kw):
        seen.append([list(map(float, w)) for w in kw["windows_nm"]])
        return real(strategy, wavelengths_nm, n_samples, **kw)

    monkeypatch.setattr(module, "make_mask", spy)
    pretrain(corpus_path, tmp_path, tiny_pretrain_config(max_steps=2, mask_windows_nm=[[660, 680]]))
    assert len(seen) >= 3  # two training batches and the validation batch
    assert all(w == [[660.0, 680.0]] for w in seen)
