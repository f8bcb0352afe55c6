"""The gap study's comparison table: each variant vs the best baseline and vs the reference."""

from pathlib import Path

import numpy as np
import pandas as pd

from spectm.config import read_config
from studies.gap_study import VARIANTS, compare_variants, markdown

N_DATES, PER_DATE = 10, 4


def predictions(method: str, feature_set: str, noise: float, *, pretrain_seed: int) -> pd.DataFrame:
    """Pooled out-of-fold predictions of one method: truth + Gaussian noise of sd ``noise``."""
    n = N_DATES * PER_DATE
    y = np.random.default_rng(0).normal(0.0, 1.0, n)
    frames = []
    for fraction in (0.05, 1.0):
        for seed in (0, 1):
            rng = np.random.default_rng([pretrain_seed + 1, seed, int(fraction * 100)])
            pred = y + rng.normal(0.0, noise * (2.0 if fraction < 1 else 1.0), n)
            frames.append(
                pd.DataFrame(
                    {
                        "dataset": "shipped",
                        "protocol": "date_cv",
                        "method": method,
                        "horizon": "current_week",
                        "feature_set": feature_set,
                        "fraction": fraction,
                        "pretrain_seed": pretrain_seed,
                        "seed": seed,
                        "fold": np.arange(n) % 4,
                        "row_id": [f"r{i:03d}" for i in range(n)],
                        "date": [f"2024-07-{1 + i // PER_DATE:02d}" for i in range(n)],
                        "y_true_log10": y,
                        "y_pred_log10": pred,
                        "pi_lo_log10": pred - 1.0,
                        "pi_hi_log10": pred + 1.0,
                        "abs_dt_hours": 10.0,
                        "config": "{}",
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_variants_are_compared_with_the_best_baseline_and_the_reference():
    baselines = pd.concat(
        [
            predictions("ridge", "indices", 0.3, pretrain_seed=-1),
            predictions("knn", "indices", 0.9, pretrain_seed=-1),
        ]
    )
    study = pd.concat(
        [
            predictions("study_reference_frozen", "spectm_paper", 0.8, pretrain_seed=ps)
            for ps in (0, 1)
        ]
        + [
            predictions("study_probe_indices_frozen", "spectm_paper", 0.3, pretrain_seed=ps)
            for ps in (0, 1)
        ]
    )
    table = compare_variants(study, baselines, fractions=[0.05, 1.0], n_boot=200)
    assert len(table) == 4 and set(table["variant"]) == {"reference", "probe_indices"}
    assert (table["best_baseline"] == "ridge (indices)").all()  # knn is worse, never chosen
    assert (table["n_replicates"] == 4).all()  # pretraining seed x split seed
    ref = table[table["variant"] == "reference"]
    assert (ref["verdict_vs_baseline"] == "baseline better").all()
    assert ref["diff_vs_reference"].isna().all()
    close = table[table["variant"] == "probe_indices"]
    assert (close["verdict_vs_reference"] == "variant better").all()
    assert (close["diff_vs_baseline_lo"] < 0).all() and (close["diff_vs_baseline_hi"] > 0).all()
    md = markdown(table)
    assert "### shipped · current_week" in md and "Paper (other data" in md
    assert md.count("| probe_indices |") == 2


def test_every_variant_changes_exactly_one_part_of_the_reference():
    cfg = read_config(Path(__file__).resolve().parents[2] / "config.yaml")
    ref = VARIANTS["reference"](cfg.model, cfg.pretrain, cfg.finetune)
    for name, change in VARIANTS.items():
        changed = [a != b for a, b in zip(change(*ref), ref, strict=True)]
        assert sum(changed) == {"reference": 0, "combined": 2}.get(name, 1), name
