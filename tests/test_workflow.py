"""The workflow end to end: lint, dry-run of the default config, a full run on a tiny config."""

from __future__ import annotations

import copy
import subprocess
import sys
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.workflow


def _snakemake(
    *args: str, cwd: Path | None = None, timeout: int = 1500
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_config() -> dict:
    """The default config shrunk: 4 demo granules (8 days apart), coarse pixels, tiny budgets."""
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    cfg["pace"]["start"], cfg["pace"]["end"] = "2024-08-04", "2024-08-12"
    cfg["pace"]["demo"].update(shape=[64, 56], pixel_km=2.4)
    cfg["pairs"]["max_pixel_pairs_per_granule_pair"] = 50
    cfg["pretrain"].update(
        max_pixels=400, max_epochs=1, batch_size=64, checkpoint_every=20, seeds=[0, 1]
    )
    cfg["strategies"] = ["targeted", "random"]
    cfg["datasets"]["sources"] = ["shipped"]
    cfg["evaluation"].update(seeds=[0], n_splits=3)
    cfg["finetune"].update(
        modes=["frozen", "full"], fractions=[0.25, 1.0], full_fractions=[1.0], full_epochs=2
    )
    cfg["deploy"]["dataset"] = "shipped"
    cfg["enmap"]["chip_size"] = 32
    cfg["enmap"]["demo"].update(n_products=3, shape=[64, 64])
    cfg["adapt"].update(
        decoder_channels=32, head_hidden=32, epochs=1, patience=1, batch_size=4, seeds=[0, 1]
    )
    cfg["baselines"].update(algorithms=["ridge", "knn"], feature_sets=["indices", "s2_srf"])
    return cfg


def test_lint_is_clean():
    proc = _snakemake("--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_dry_run_lists_the_jobs(tmp_path):
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake("-d", str(tmp_path), "-n", "--cores", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for rule in ("samples", "pace_search", "report"):
        assert rule in out


def test_dry_run_without_the_enmap_branch(tmp_path):
    """`make demo` layers config/without-enmap.yaml: no EnMAP job, the report still planned."""
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    off = str(ROOT / "config" / "without-enmap.yaml")
    proc = _snakemake("-d", str(tmp_path), "-n", "--cores", "2", "--configfile", off)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "report" in proc.stdout and "enmap_search" not in proc.stdout
    assert "adapt_run" not in proc.stdout


def test_dry_run_with_the_paper_settings(tmp_path):
    """config/paper.yaml layers on config.yaml (Snakemake merges the sections key by key)."""
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    paper = str(ROOT / "config" / "paper.yaml")
    proc = _snakemake("-d", str(tmp_path), "-n", "--cores", "2", "--configfile", paper)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    (work / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    proc = _snakemake("-d", str(work), "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-8000:]
    return work


def test_tiny_workflow_reaches_the_report(tiny_run):
    html = (tiny_run / "results/report/index.html").read_text()
    first = html.split('<div class="prov">', 1)[1].split("</div>", 1)[0]
    assert "REAL" in first and "GENERATED" in first
    for anchor in (
        "samples",
        "granules",
        "matchups",
        "pretraining",
        "evaluation",
        "adaptation",
        "assumptions",
    ):
        assert f'id="{anchor}"' in html
    assert len(list((tiny_run / "results/chips/pace").glob("*.nc"))) == 4
    assert len(list((tiny_run / "results/maps").glob("*.png"))) == 4
    assert len(list((tiny_run / "results/maps").glob("*.tif"))) == 4
    assert (tiny_run / "results/models/microcystin_current_week.pt").stat().st_size > 0


def test_tiny_workflow_matchups_account_for_every_sample(tiny_run):
    samples = pd.read_parquet(tiny_run / "results/samples/samples.parquet")
    excl = pd.read_parquet(tiny_run / "results/matchups/exclusions.parquet")
    assert sorted(excl["sample_id"]) == sorted(samples["sample_id"])
    assert (excl["status"] == "matched").sum() > 0


def test_tiny_workflow_summary_has_every_method(tiny_run):
    summary = pd.read_csv(tiny_run / "results/metrics/summary.csv")
    methods = set(summary["method"])
    assert {"spectm_targeted_frozen", "spectm_random_frozen", "ridge", "knn"} <= methods
    assert set(summary["horizon"]) == {"current_week", "8day_ahead"}
    assert summary["r2_log10"].notna().any()
    # two pretraining seeds per strategy, both protocols (the shipped set spans 2024 and 2025)
    spectm = summary[summary["method"] == "spectm_targeted_frozen"]
    assert set(spectm["pretrain_seed"]) == {0, 1}
    assert set(summary["protocol"]) == {"date_cv", "next_season"}
    assert set(summary.loc[summary["method"] == "ridge", "pretrain_seed"]) == {-1}


def test_tiny_workflow_states_generated_comparisons(tiny_run):
    comps = pd.read_csv(tiny_run / "results/metrics/comparisons.csv")
    assert set(comps["what"]) >= {"SpecTM vs best baseline", "targeted vs random masking (frozen)"}
    assert "next_season" in set(comps["protocol"])
    verdicts = {"a better", "b better", "not distinguishable", "too few dates"}
    assert set(comps["verdict"]) <= verdicts
    assert (comps["a_replicates"] == 2).all()  # pretraining seed x split seed: 2 x 1
    html = (tiny_run / "results/report/index.html").read_text()
    for text in comps["sentence"]:
        assert html_escape(text) in html


def test_tiny_workflow_adaptation_summary(tiny_run):
    """TerraMind really ran forward and backward (tiny chips, 1 epoch): one row per task x
    method x seed, each saying which weights it had."""
    rows = pd.read_csv(
        tiny_run / "results/adapt/summary.csv", keep_default_na=False, na_values=[""]
    )
    assert len(rows) == 2 * 4 * 2
    assert set(rows["method"]) == {"naive", "srf", "learned", "full_hsi"}
    assert set(rows["task"]) == {"segmentation", "regression"}
    terramind = rows[rows["method"] != "full_hsi"]
    assert set(terramind["weights"]) == {"random"}  # offline: no pretrained checkpoint
    assert set(rows.loc[rows["method"] == "full_hsi", "weights"]) == {"n/a"}
    assert (rows["epochs_run"] >= 1).all() and rows["n_test"].min() >= 1
    html = (tiny_run / "results/report/index.html").read_text()
    assert 'id="adaptation"' in html and "RANDOM initial weights" in html
    coverage = pd.read_csv(tiny_run / "results/adapt/coverage.csv")
    assert len(coverage) == 12


def test_tiny_workflow_is_up_to_date_after_the_run(tiny_run):
    proc = _snakemake("-d", str(tiny_run), "-n", "--cores", "2")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_an_unrelated_config_edit_reruns_nothing(tiny_run, tmp_path):
    """The report takes a few named settings, not the whole config: editing another key (here
    the gridMET variables, unused with aux disabled) leaves every output up to date."""
    cfg = tiny_config()
    cfg["aux"]["variables"] = ["pr"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    proc = _snakemake("-d", str(tiny_run), "-n", "--cores", "2", "--configfile", str(edited))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_snakemake_report_zip(tiny_run):
    proc = _snakemake("-d", str(tiny_run), "--report", str(tiny_run / "report.zip"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tiny_run / "report.zip").stat().st_size > 10_000
