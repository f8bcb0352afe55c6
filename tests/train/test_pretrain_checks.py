"""Pretraining's guards: index-target scaling, refusing to resume on another corpus or config,
and the configured mask windows reaching every batch.

Found missing by the mutation run of ``train/pretrain.py`` (docs/testing.md).
"""

import importlib
import re

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


def test_resume_refuses_another_corpus_or_config(corpus_path, tmp_path):
    cfg = tiny_pretrain_config(max_steps=1)
    out = tmp_path / "run"
    pretrain(corpus_path, out, cfg)
    df = read_corpus(corpus_path)
    rrs = [c for c in df.columns if c.startswith("Rrs_")]
    brighter = df.copy()
    brighter[rrs] = brighter[rrs] * 1.01  # same rows, other values
    fewer = df.drop(index=df.index[df["split"] == "train"][:1])  # one training row less
    ckpt = re.escape(str(out / CHECKPOINT_NAME))
    for name, other in (("brighter", brighter), ("fewer", fewer)):
        path = write_corpus(other, tmp_path / f"{name}.parquet")
        with pytest.raises(ValueError, match=rf"cannot resume {ckpt}: the corpus differs"):
            pretrain(path, out, cfg)
    # a config key that only the checkpoint has is a difference too
    saved = load_checkpoint(out / CHECKPOINT_NAME)
    saved.meta.pretrain_config["extra_key"] = 1
    save_checkpoint(saved, out / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match=r"config keys \['extra_key'\] differ"):
        pretrain(corpus_path, out, cfg)


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
