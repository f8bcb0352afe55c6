"""The SpecTM gap study: what limits SpecTM against the best baseline, one switch at a time.

Run after the demo (``make demo``), from the repository root::

    .venv/bin/python studies/gap_study.py --out results/study

It reads what the demo wrote (chips, pixel pairs, the labelled datasets and the baselines'
predictions) and the demo configuration, and for each variant below pretrains SpecTM (targeted
masking) once per ``pretrain.seeds`` seed, probes it frozen at the label fractions of the study
on every ``(dataset, horizon)`` of ``--datasets`` with exactly the baselines' outer cells
(``evaluation`` section: seeds, folds, inner folds, grid), and compares each variant with the
best baseline at the same fraction (paired bootstrap over sampling dates, as the report does)
and with the reference variant. Every variant changes one switch of the configuration against the
reference (the demo's settings), so differences are measured at equal labels:

* ``reference``: the demo (tiny preset, 3,000 chip pixels + pixel pairs, 3 epochs, CLS pooling,
  embedding-only probe, chips-only corpus);
* ``corpus_x4_epochs_x2``: ``pretrain.max_pixels`` x4, ``pretrain.max_epochs`` x2 (8x the steps);
* ``preset_small``: ``model.preset: small``;
* ``pooling_mean`` / ``pooling_window``: ``finetune.pooling``;
* ``probe_indices``: ``finetune.probe_inputs: embedding+indices``;
* ``corpus_labelled``: ``pretrain.include_labelled: true`` (the labelled spectra, never their
  labels, also in the corpus: transductive);
* ``combined``: ``corpus_x4_epochs_x2`` and ``probe_indices`` together (two switches: it asks
  whether their gains add up).

``--variants`` runs some of them; their rows replace those variants' rows of an existing
``predictions.parquet`` and the table is recomputed over every variant there.

Outputs (``--out``): ``predictions.parquet`` (every variant's predictions, method
``study_<variant>``), ``study.csv`` (one row per variant x dataset x horizon x fraction: mean ± sd
over pretraining seed x split seed, the best baseline's, the paired difference and its interval,
the verdicts) and ``study.md`` (the same as a Markdown table with the paper's numbers beside it),
``timings.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectm._io import write_csv, write_parquet, write_text
from spectm.config import FinetuneConfig, ModelConfig, PretrainSection, read_config
from spectm.datasets import read_dataset
from spectm.evaluate.compare import MethodKey, paired_difference
from spectm.evaluate.headline import PAPER_NUMBERS
from spectm.evaluate.summary import best_by, summarise
from spectm.io.corpus import write_corpus
from spectm.train.corpus import build_corpus
from spectm.train.finetune import FullConfig
from spectm.train.finetune_grid import run_finetune_grid
from spectm.train.pretrain import PretrainConfig, pretrain

log = logging.getLogger("gap_study")

Sections = tuple[ModelConfig, PretrainSection, FinetuneConfig]

VARIANTS: dict[str, Callable[[ModelConfig, PretrainSection, FinetuneConfig], Sections]] = {
    "reference": lambda m, p, f: (m, p, f),
    "corpus_x4_epochs_x2": lambda m, p, f: (
        m,
        replace(p, max_pixels=4 * p.max_pixels, max_epochs=2 * p.max_epochs),
        f,
    ),
    "preset_small": lambda m, p, f: (replace(m, preset="small"), p, f),
    "pooling_mean": lambda m, p, f: (m, p, replace(f, pooling="mean")),
    "pooling_window": lambda m, p, f: (m, p, replace(f, pooling="window")),
    "probe_indices": lambda m, p, f: (m, p, replace(f, probe_inputs="embedding+indices")),
    "corpus_labelled": lambda m, p, f: (m, replace(p, include_labelled=True), f),
    "combined": lambda m, p, f: (
        m,
        replace(p, max_pixels=4 * p.max_pixels, max_epochs=2 * p.max_epochs),
        replace(f, probe_inputs="embedding+indices"),
    ),
}
"""Each variant: the reference configuration's model, pretrain and finetune sections, changed."""


def _corpus_key(pre: PretrainSection) -> str:
    return f"px{pre.max_pixels}_lab{int(pre.include_labelled)}"


def _pretrain_job(args: tuple[Any, ...]) -> tuple[str, float]:
    corpus, out_dir, model, pre, seed, device = args
    t0 = time.perf_counter()
    cfg = PretrainConfig.from_sections(
        model, pre, strategy="targeted", seed=seed, device=device, num_threads=1, progress=False
    )
    path = pretrain(corpus, out_dir, cfg)
    return str(path), time.perf_counter() - t0


def _probe_job(args: tuple[Any, ...]) -> tuple[pd.DataFrame, float]:
    name, model_path, datasets, cfg, ft, fractions, device = args
    t0 = time.perf_counter()
    frames = []
    for path in datasets:
        pred = run_finetune_grid(
            read_dataset(path),
            model_path,
            evaluation=cfg.evaluation,
            fractions=fractions,
            modes=("frozen",),
            full_fractions=(),
            full=FullConfig.for_evaluation(cfg.evaluation, epochs=1),
            device=device,
            pooling=ft.pooling,
            probe_inputs=ft.probe_inputs,
            num_threads=1,
            method_prefix=f"study_{name}",
        )
        frames.append(pred)
    return pd.concat(frames, ignore_index=True), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    """Run the study (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="config.yaml", help="the demo's configuration")
    ap.add_argument("--results", default="results", help="the demo's results directory")
    ap.add_argument("--out", default="results/study")
    ap.add_argument(
        "--datasets", nargs="+", default=["shipped_current_week", "matchups_current_week"]
    )
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.05, 1.0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--table-only",
        action="store_true",
        help="recompute study.csv/study.md from the --out directory's predictions.parquet",
    )
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = read_config(a.config)
    res, out = Path(a.results), Path(a.out)
    if a.table_only:
        write_tables(pd.read_parquet(out / "predictions.parquet"), res, out, a, cfg)
        return
    chips = sorted((res / "chips" / "pace").glob("*.nc"))
    pairs = res / "pairs" / "pixel_pairs.parquet"
    datasets = [res / "datasets" / f"{d}.parquet" for d in a.datasets]
    for p in [pairs, *datasets]:
        if not p.is_file():
            raise SystemExit(f"{p} is missing: run `make demo` first")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # corpora, one per distinct corpus setting
    corpora: dict[str, Path] = {}
    plan = {}
    for name in a.variants:
        model, pre, ft = VARIANTS[name](cfg.model, cfg.pretrain, cfg.finetune)
        key = _corpus_key(pre)
        if key not in corpora:
            t = time.perf_counter()
            corpus = build_corpus(
                chips,
                grid=cfg.model.grid,
                pixel_pairs_path=pairs,
                labelled_tables=datasets if pre.include_labelled else (),
                max_pixels=pre.max_pixels,
                val_fraction=pre.val_fraction,
                seed=pre.corpus_seed,
            )
            corpora[key] = write_corpus(corpus, out / "corpora" / f"{key}.parquet")
            timings[f"corpus {key}"] = time.perf_counter() - t
        plan[name] = (model, pre, ft, corpora[key])
    # pretraining: the probe-only variants reuse the reference's encoders
    pre_key = {n: (p[0].preset, _corpus_key(p[1]), p[1].max_epochs) for n, p in plan.items()}
    jobs, owner = [], {}
    for name, (model, pre, _ft, corpus) in plan.items():
        if pre_key[name] in owner:
            continue
        owner[pre_key[name]] = name
        for seed in pre.seeds:
            jobs.append((corpus, out / "models" / name / f"seed{seed}", model, pre, seed, a.device))
    with ProcessPoolExecutor(a.workers) as pool:
        for job, (_path, sec) in zip(jobs, pool.map(_pretrain_job, jobs), strict=True):
            timings[f"pretrain {job[1].parent.name} {job[1].name}"] = sec
    probes = []
    for name, (_model, pre, ft, _corpus) in plan.items():
        src = owner[pre_key[name]]
        for seed in pre.seeds:
            path = out / "models" / src / f"seed{seed}" / "model.pt"
            probes.append((name, path, datasets, cfg, ft, a.fractions, a.device))
    with ProcessPoolExecutor(a.workers) as pool:
        results = list(pool.map(_probe_job, probes))
    frames = []
    for job, (pred, sec) in zip(probes, results, strict=True):
        timings[f"probe {job[0]} {job[1].parent.name}"] = sec
        frames.append(pred)
    study = pd.concat(frames, ignore_index=True)
    if (out / "predictions.parquet").is_file():  # keep the variants not rerun
        before = pd.read_parquet(out / "predictions.parquet")
        study = pd.concat([before[~before["method"].isin(set(study["method"]))], study])
        study = study.reset_index(drop=True)
    write_parquet(study, out / "predictions.parquet")
    write_tables(study, res, out, a, cfg)
    timings[f"total {' '.join(a.variants)}"] = time.perf_counter() - t0
    before = (
        json.loads((out / "timings.json").read_text()) if (out / "timings.json").is_file() else {}
    )
    merged = {**before, **{k: round(v, 1) for k, v in timings.items()}}
    write_text(json.dumps(merged, indent=1), out / "timings.json")


def write_tables(
    study: pd.DataFrame, res: Path, out: Path, a: argparse.Namespace, cfg: Any
) -> None:
    """study.csv and study.md from the study's predictions and the demo's baselines."""
    baselines = pd.concat(
        [pd.read_parquet(res / "predictions" / f"baselines_{d}.parquet") for d in a.datasets],
        ignore_index=True,
    )
    table = compare_variants(
        study, baselines, fractions=a.fractions, n_boot=cfg.evaluation.bootstrap
    )
    write_csv(table, out / "study.csv")
    write_text(markdown(table), out / "study.md")
    print(markdown(table))


def compare_variants(
    study: pd.DataFrame, baselines: pd.DataFrame, *, fractions: Sequence[float], n_boot: int
) -> pd.DataFrame:
    """Each variant vs the best baseline and vs the reference, per dataset x horizon x fraction."""
    both = pd.concat([study, baselines], ignore_index=True)
    summary = summarise(both)
    rows = []
    cells = study[["dataset", "horizon"]].drop_duplicates().itertuples(index=False)
    variants = list(dict.fromkeys(study["method"]))
    for dataset, horizon in cells:
        for fraction in fractions:
            best = best_by(summary, fraction=fraction, exclude_prefix="study_")
            b = best[(best["dataset"] == dataset) & (best["horizon"] == horizon)].iloc[0]
            base = MethodKey(str(b["method"]), str(b["feature_set"]))
            kw = dict(dataset=dataset, horizon=horizon, fraction=fraction, n_boot=n_boot)
            for method in variants:
                fs = str(study.loc[study["method"] == method, "feature_set"].iloc[0])
                key = MethodKey(method, fs)
                vs_base = paired_difference(both, key, base, **kw)
                row = {
                    "variant": method.removeprefix("study_").removesuffix("_frozen"),
                    "dataset": dataset,
                    "horizon": horizon,
                    "fraction": fraction,
                    "r2_mean": vs_base.a_mean,
                    "r2_sd": vs_base.a_sd,
                    "n_replicates": vs_base.a_replicates,
                    "best_baseline": base.label,
                    "baseline_r2_mean": vs_base.b_mean,
                    "baseline_r2_sd": vs_base.b_sd,
                    "diff_vs_baseline": vs_base.diff,
                    "diff_vs_baseline_lo": vs_base.lo,
                    "diff_vs_baseline_hi": vs_base.hi,
                    "verdict_vs_baseline": vs_base.verdict.replace("a ", "variant ").replace(
                        "b ", "baseline "
                    ),
                }
                ref = "study_reference_frozen"
                if method != ref and ref in variants:
                    vs_ref = paired_difference(both, key, MethodKey(ref, fs), **kw)
                    row.update(
                        diff_vs_reference=vs_ref.diff,
                        diff_vs_reference_lo=vs_ref.lo,
                        diff_vs_reference_hi=vs_ref.hi,
                        verdict_vs_reference=vs_ref.verdict.replace("a ", "variant ").replace(
                            "b ", "reference "
                        ),
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The study table as Markdown, the paper's numbers beside it."""
    lines = []
    for (dataset, horizon), g in table.groupby(["dataset", "horizon"], sort=False):
        paper = PAPER_NUMBERS.get(str(horizon), {})
        lines += [
            f"### {dataset} · {horizon}",
            "",
            f"Paper (other data, its own splits): SpecTM R² {paper.get('spectm_r2', np.nan)}, "
            f"best baseline {paper.get('best_baseline_r2', np.nan)}.",
            "",
            "| variant | labels | SpecTM R² | best baseline (R²) | Δ vs baseline [95 % CI] | "
            "Δ vs reference [95 % CI] |",
            "|---|---|---|---|---|---|",
        ]
        for r in g.itertuples(index=False):
            ref = (
                f"{r.diff_vs_reference:+.3f} [{r.diff_vs_reference_lo:+.3f}, "
                f"{r.diff_vs_reference_hi:+.3f}]"
                if "diff_vs_reference" in g and np.isfinite(getattr(r, "diff_vs_reference", np.nan))
                else "—"
            )
            lines.append(
                f"| {r.variant} | {r.fraction:.0%} | {r.r2_mean:.3f} ± {r.r2_sd:.3f} "
                f"(n={r.n_replicates}) | {r.best_baseline} ({r.baseline_r2_mean:.3f}) | "
                f"{r.diff_vs_baseline:+.3f} [{r.diff_vs_baseline_lo:+.3f}, "
                f"{r.diff_vs_baseline_hi:+.3f}] | {ref} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
