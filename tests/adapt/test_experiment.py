"""Scene split, one run to a JSON row, summary tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from spectm.adapt.experiment import (
    ROW_KEYS,
    read_rows,
    run_adapt,
    run_to_json,
    split_scenes,
    summarise,
    write_coverage,
    write_row,
    write_summary,
)
from spectm.adapt.settings import AdaptConfig
from tests.adapt.test_factory import memory_chips, offline_empty_cache, tiny_config, write_chips


@pytest.mark.parametrize("n", [3, 4, 5, 7, 12])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_never_puts_a_scene_on_two_sides(n, seed):
    scenes = [f"S{i % n}" for i in range(3 * n)]  # several chips per scene
    split = split_scenes(scenes, seed=seed, val_fraction=0.2, test_fraction=0.2)
    sides = [set(split[k]) for k in ("train", "val", "test")]
    assert all(sides), split
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert set.union(*sides) == set(scenes)
    assert split == split_scenes(scenes[::-1], seed=seed, val_fraction=0.2, test_fraction=0.2)


def test_split_refuses_fewer_than_three_scenes():
    with pytest.raises(ValueError, match="at least 3 scenes"):
        split_scenes(["a", "b", "a"], seed=0, val_fraction=0.2, test_fraction=0.2)


def test_split_depends_on_the_seed():
    scenes = [f"S{i}" for i in range(10)]
    tests = {
        split_scenes(scenes, seed=s, val_fraction=0.2, test_fraction=0.2)["test"] for s in range(5)
    }
    assert len(tests) > 1


def test_one_run_writes_a_row_that_says_random_offline(tmp_path, monkeypatch):
    offline_empty_cache(monkeypatch, tmp_path / "hf_empty")
    paths = write_chips(tmp_path / "chips", n_scenes=3, per_scene=2)
    (row,) = run_to_json(
        paths,
        [tmp_path / "rows" / "seg_naive_0.json"],
        task="segmentation",
        method="naive",
        seeds=[0],
        cfg=tiny_config(),
    )
    saved = json.loads((tmp_path / "rows" / "seg_naive_0.json").read_text())
    assert list(saved) == sorted(ROW_KEYS) and saved == row
    assert row["weights"] == "random" and row["backbone"] == "terratorch_terramind_v1_tiny"
    assert row["metric"] == "miou" and 0.0 <= row["value"] <= 1.0
    assert (row["n_train"], row["n_val"], row["n_test"]) == (2, 2, 2)
    assert row["epochs_run"] == 1 and row["best_epoch"] == 1
    assert row["device"] == "cpu" and row["data_kind"] == "demo" and row["n_bands"] == 202
    scenes = [set(row[f"{k}_scenes"].split()) for k in ("train", "val", "test")]
    assert len(set.union(*scenes)) == 3


def test_full_hsi_regression_is_seeded_and_has_no_weights(monkeypatch, tmp_path):
    offline_empty_cache(monkeypatch, tmp_path)
    chips = memory_chips(n_scenes=4, per_scene=2)
    cfg = tiny_config(epochs=2, patience=1)
    a = run_adapt(chips, task="regression", method="full_hsi", seed=3, cfg=cfg)
    b = run_adapt(chips, task="regression", method="full_hsi", seed=3, cfg=cfg)
    assert a["weights"] == "n/a" and a["metric"] == "r2" and a["backbone"] == "spectm_fullhsi_cnn"
    assert a["value"] == b["value"] and a["best_val_loss"] == b["best_val_loss"]
    assert 1 <= a["best_epoch"] <= a["epochs_run"] <= 2
    c = run_adapt(chips, task="regression", method="full_hsi", seed=4, cfg=cfg)
    assert c["value"] != a["value"]


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="unknown methods"):
        tiny_config(methods=("naive", "bicubic"))
    with pytest.raises(ValueError, match="patience"):
        tiny_config(patience=0)
    with pytest.raises(ValueError, match="missing keys"):
        AdaptConfig.from_dict({"backbone": "x"}, name="adapt")
    assert AdaptConfig.from_dict(tiny_config().to_dict()) == tiny_config()


def _row(
    task: str, method: str, seed: int, value: float | None, weights: str = "pretrained"
) -> dict:
    row = {k: 0 for k in ROW_KEYS}
    row |= {"task": task, "method": method, "seed": seed, "value": value, "weights": weights}
    row |= {"metric": "miou" if task == "segmentation" else "r2", "backbone": "tm"}
    return row


def test_summary_aggregates_by_hand(tmp_path):
    rows = [
        _row("segmentation", "srf", 0, 0.5),
        _row("segmentation", "srf", 1, 0.7),
        _row("segmentation", "srf", 2, 0.9),
        _row("segmentation", "naive", 0, 0.4),
        _row("regression", "naive", 0, 0.2),
        _row("regression", "naive", 1, None),  # NaN metric (one test chip)
        _row("regression", "naive", 2, 0.6),
        _row("regression", "full_hsi", 0, 0.8, weights="n/a"),
    ]
    paths = [write_row(r, tmp_path / f"r{i}.json") for i, r in enumerate(rows)]
    all_rows, table = write_summary(paths, tmp_path / "summary.csv", tmp_path / "table.csv")
    assert len(all_rows) == 8
    assert all_rows[["task", "method", "seed"]].values.tolist()[:3] == [
        ["segmentation", "naive", 0],
        ["segmentation", "srf", 0],
        ["segmentation", "srf", 1],
    ]
    t = table.set_index(["task", "method"])
    srf = t.loc[("segmentation", "srf")]
    assert srf["mean"] == pytest.approx(0.7) and srf["sd"] == pytest.approx(0.2)
    assert srf["n_seeds"] == 3 and srf["mean_sd"] == "0.700 ± 0.200"
    reg = t.loc[("regression", "naive")]
    assert (reg["n_seeds"], reg["n_finite"]) == (3, 2)
    assert reg["mean"] == pytest.approx(0.4) and reg["sd"] == pytest.approx(np.sqrt(0.08))
    assert math.isnan(t.loc[("segmentation", "naive")]["sd"])
    assert t.loc[("regression", "full_hsi")]["weights"] == "n/a"
    # "n/a" is a value: pandas must be told not to read it as missing
    back = pd.read_csv(tmp_path / "table.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 8


def test_duplicate_rows_are_refused(tmp_path):
    a = write_row(_row("segmentation", "srf", 0, 0.5), tmp_path / "a.json")
    b = write_row(_row("segmentation", "srf", 0, 0.6), tmp_path / "b.json")
    with pytest.raises(ValueError, match="duplicate"):
        read_rows([a, b])
    with pytest.raises(ValueError, match="lacks"):
        write_row({"task": "x"}, tmp_path / "c.json")
    assert summarise(read_rows([a])).loc[0, "mean_sd"] == "0.500"


def test_coverage_table_file(tmp_path):
    paths = write_chips(tmp_path, n_scenes=1, per_scene=1, size=16)
    table = write_coverage(paths, tmp_path / "coverage.csv", cfg=tiny_config())
    assert len(table) == 12 and table["valid"].all()
    assert pd.read_csv(tmp_path / "coverage.csv")["band"].tolist()[-2:] == ["B11", "B12"]
