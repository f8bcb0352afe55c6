"""The workflow end to end: lint, dry-run of the default config, a full run on a tiny config."""

from __future__ import annotations

import copy
import re
import shlex
import shutil
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


# ------------------------------------------------------------------ weekly refresh
# A copy of the finished tiny run per scenario; the job lists come from the dry-run's job stats
# (after the search has run, so the checkpoint's new granules are known).

SEARCHES = ("pace_search", "enmap_search")
MANIFESTS = ("results/pace/manifest.csv", "results/enmap/manifest.csv")
"""`make refresh` forces the searches (targets: their manifests), then runs the workflow."""


def _job_counts(text: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table ({} when nothing is to be done)."""
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    counts = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def _executed(text: str) -> list[str]:
    """The rules of the jobs a real run executed, one entry per job, from its job headers."""
    return re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", text, flags=re.M)


def _dry(work: Path, *args: str) -> dict[str, int]:
    proc = _snakemake("-d", str(work), "-n", "--cores", "2", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return _job_counts(proc.stdout + proc.stderr)


@pytest.fixture
def finished(tiny_run, tmp_path):
    """A copy of the finished tiny run (times kept) that a scenario may change."""
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True, ignore=shutil.ignore_patterns("report.zip"))
    assert _dry(work) == {}
    return work


def _edited(work: Path, edit) -> str:
    cfg = tiny_config()
    edit(cfg)
    path = work / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_refresh_with_nothing_new_runs_only_the_searches(finished):
    proc = _snakemake("-d", str(finished), "--cores", "2", *MANIFESTS, "--forcerun", *SEARCHES)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert sorted(_executed(proc.stdout + proc.stderr)) == sorted(SEARCHES)
    assert _dry(finished) == {}


def test_refresh_with_new_granules_fetches_only_those(finished):
    """Two more weeks of PACE: only the new granules are fetched and chipped; the aggregation
    downstream of the chips reruns, the GLERL samples and the old granules do not."""
    old = set(pd.read_csv(finished / "results/pace/manifest.csv")["granule"])
    cfg = _edited(finished, lambda c: c["pace"].update(end="2024-08-20"))
    # targets first: --configfile and --forcerun take every name that follows them
    proc = _snakemake("-d", str(finished), "--cores", "2", *MANIFESTS, "--configfile", cfg,
                      "--forcerun", *SEARCHES)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-5000:]
    new = set(pd.read_csv(finished / "results/pace/manifest.csv")["granule"]) - old
    assert new and old <= set(pd.read_csv(finished / "results/pace/manifest.csv")["granule"])
    jobs = _dry(finished, "--configfile", cfg)
    assert jobs["pace_granule"] == jobs["chip"] == len(new)
    planned = _snakemake("-d", str(finished), "-n", "--cores", "2", "--configfile", cfg)
    fetched = re.findall(r"output: resources/pace/(\S+)\n", planned.stdout)
    assert sorted(fetched) == sorted(new)
    assert {"corpus", "pixel_pairs", "pretrain", "matchups", "report"} <= set(jobs)
    assert not {"samples", "enmap_product", "pace_search", "enmap_search"} & set(jobs)


def test_refresh_with_a_changed_pretraining_setting(finished):
    """A new learning rate reruns pretraining and what follows, never the corpus, and the run
    succeeds (the finished checkpoint of the old setting is set aside, not resumed)."""
    cfg = _edited(finished, lambda c: c["pretrain"].update(lr=5e-4))
    jobs = _dry(finished, "--configfile", cfg)
    assert jobs["pretrain"] == 4  # 2 strategies x 2 seeds
    assert set(jobs) <= {"pretrain", "reconstruction", "finetune", "deploy_model",
                         "microcystin_map", "metrics", "report", "all"}  # fmt: skip
    run = finished / "results/models/pretrain/targeted/seed0"
    before = (run / "model.pt").read_bytes()
    target = str(run.relative_to(finished) / "model.pt")
    proc = _snakemake("-d", str(finished), "--cores", "2", target, "--configfile", cfg)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert (run / "checkpoint.pt.stale").exists()
    assert (run / "last-good/model.pt").read_bytes() == (run / "model.pt").read_bytes() != before


def test_refresh_with_a_new_pretraining_seed_adds_only_its_runs(finished):
    jobs = _dry(finished, "--configfile", _edited(finished, lambda c: c["pretrain"].update(
        seeds=[0, 1, 2])))  # fmt: skip
    assert jobs["pretrain"] == 2 and jobs["reconstruction"] == 2  # seed 2 of both strategies
    assert "corpus" not in jobs


def test_refresh_with_a_new_sample_file(finished):
    """A new GLERL CSV reruns the samples and everything labelled, not the imagery or the
    pretraining."""
    bundled = sorted((ROOT / "src/spectm/data/glerl").glob("2025_*.csv"))[0]
    new_file = finished / "new_week.csv"
    new_file.write_text("".join(bundled.read_text().splitlines(keepends=True)[:6]))
    jobs = _dry(finished, "--configfile", _edited(finished, lambda c: c["samples"].update(
        extra_files=[str(new_file)])))  # fmt: skip
    assert {"samples", "matchups", "finetune", "baselines", "metrics", "report"} <= set(jobs)
    assert not {"pace_granule", "chip", "corpus", "pretrain", "enmap_product"} & set(jobs)


def test_a_failed_pretraining_rerun_keeps_the_last_model(finished):
    """An unavailable device makes the rerun fail after Snakemake deleted model.pt: the last
    finished model stays in last-good/ and the rule's log says where."""
    run = finished / "results/models/pretrain/random/seed1"
    kept = (run / "last-good/model.pt").read_bytes()
    assert kept == (run / "model.pt").read_bytes()
    cfg = _edited(finished, lambda c: c.update(device="cuda:7"))
    target = str(run.relative_to(finished) / "model.pt")
    proc = _snakemake("-d", str(finished), "--cores", "2", target, "--configfile", cfg)
    assert proc.returncode != 0
    assert not (run / "model.pt").exists()
    assert (run / "last-good/model.pt").read_bytes() == kept
    log = (finished / "logs/pretrain/random_seed1.log").read_text()
    assert f"the last finished run is still in {run.relative_to(finished)}/last-good" in log


def test_make_refresh_forces_only_the_search_then_runs_the_workflow():
    """`make refresh`'s two Snakemake command lines, parsed by Snakemake's own argument parser:
    the first targets only the manifest (a target after --configfile or --forcerun would be read
    as one of their values), the second is `make demo`'s."""
    from snakemake.cli import get_argument_parser

    dry = subprocess.run(
        ["make", "-n", "refresh"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines = [shlex.split(line) for line in dry.splitlines() if "snakemake" in line]
    assert len(lines) == 2
    search, rest = (get_argument_parser().parse_args(line[1:]) for line in lines)
    assert search.targets == ["results/pace/manifest.csv"]
    assert search.forcerun == {"pace_search"}
    assert [str(p) for p in search.configfile] == ["config/without-enmap.yaml"]
    assert not rest.targets and not rest.forcerun
    assert [str(p) for p in rest.configfile] == ["config/without-enmap.yaml"]
