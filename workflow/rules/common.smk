# Shared settings and input functions. Logic lives in src/spectm; rules stay declarative.
import os
import sys

import pandas as pd

sys.path.insert(0, f"{workflow.basedir}/src")
from spectm.io.pace_l2 import L2_AOP_STEM_PATTERN
from spectm.sources.glerl import NCEI_FILES, bundled_glerl_files


# Scripts import spectm from src/ (also inside --sdm conda environments and on cluster nodes).
# (Set, not required from the user: hence update() rather than an envvars: assertion.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (f"{workflow.basedir}/src", os.getenv("PYTHONPATH")) if p)
)


wildcard_constraints:
    granule=L2_AOP_STEM_PATTERN,


def glerl_inputs(wildcards):
    """GLERL CSVs for the `samples` rule: bundled package data or the downloaded NCEI files."""
    if config["samples"]["source"] == "bundled":
        files = [str(p) for p in bundled_glerl_files()]
    else:
        files = [f"resources/glerl/{name}" for name in ncei_file_names()]
    return files + list(config["samples"]["extra_files"])


def ncei_file_names():
    """File names of the NCEI / GLERL downloads (source: ncei)."""
    return [f.filename for f in NCEI_FILES]


def manifest_granules(wildcards=None):
    """Granule stems (file name without .nc) listed by the pace_search checkpoint."""
    manifest = checkpoints.pace_search.get().output.manifest
    names = pd.read_csv(manifest)["granule"]
    return [n.removesuffix(".nc") for n in names]


def manifest_row(wildcards):
    """This granule's manifest row (url, size, time, version) as plain values."""
    manifest = checkpoints.pace_search.get().output.manifest
    df = pd.read_csv(manifest, dtype=str).fillna("")
    rows = df[df["granule"] == f"{wildcards.granule}.nc"]
    if rows.empty:
        raise ValueError(f"{manifest}: granule {wildcards.granule}.nc is not in the manifest")
    return rows.iloc[0].to_dict()


def all_chips(wildcards):
    """Every chip of the granules in the manifest."""
    return expand("results/chips/pace/{granule}.nc", granule=manifest_granules())


def all_flag_stats(wildcards):
    """Per-chip l2_flags statistics."""
    return expand("results/chips/pace/{granule}.flags.json", granule=manifest_granules())


def all_quicklooks(wildcards):
    """True-colour quicklooks of every chip."""
    return expand("results/chips/pace/{granule}.png", granule=manifest_granules())


def dataset_inputs(wildcards):
    """Matchups (source matchups) and samples (8-day-ahead labels) for one labelled dataset."""
    inputs = {"samples": "results/samples/samples.parquet"}
    if wildcards.source == "matchups":
        inputs["matchups"] = "results/matchups/matchups.parquet"
    return inputs


def pretrain_config(wildcards):
    """PretrainConfig fields for one masking strategy, from the model and pretrain sections."""
    m, p = config["model"], config["pretrain"]
    return {
        "preset": m["preset"],
        "model": {
            "w_rec": m["lambda_reconstruction"],
            "w_idx": m["lambda_indices"],
            "w_temp": m["lambda_temporal"],
        },
        "mask_strategy": wildcards.strategy,
        "mask_windows_nm": m["mask_windows_nm"],
        "lr": p["lr"],
        "weight_decay": p["weight_decay"],
        "batch_size": p["batch_size"],
        "max_epochs": p["max_epochs"],
        "patience": p["patience"],
        "checkpoint_every": p["checkpoint_every"],
        "seed": p["seed"],
        "device": p["device"],
    }


def baseline_inputs(wildcards):
    """A labelled dataset, plus its gridMET AUX features when aux.enabled."""
    inputs = {"dataset": f"results/datasets/{wildcards.source}_{wildcards.horizon}.parquet"}
    if config["aux"]["enabled"]:
        inputs["aux"] = f"results/aux/{wildcards.source}_{wildcards.horizon}.parquet"
    return inputs


def baseline_feature_sets(wildcards):
    """Configured feature sets, plus AUX-only and every set with +aux when aux.enabled."""
    sets = list(config["baselines"]["feature_sets"])
    if config["aux"]["enabled"]:
        sets += ["aux"] + [f"{s}+aux" for s in sets if "aux" not in s]
    return sets


def finetune_modes(wildcards):
    """Fine-tuning modes for one strategy: full only for finetune.full_strategies."""
    modes = list(config["finetune"]["modes"])
    if wildcards.strategy not in config["finetune"]["full_strategies"]:
        modes = [m for m in modes if m != "full"]
    return modes


def _cells():
    f = config["finetune"]
    return [(s, h) for s in f["datasets"] for h in f["horizons"]]


def all_predictions(wildcards):
    """SpecTM (every masking strategy) and baseline predictions for every dataset x horizon."""
    out = []
    for source, horizon in _cells():
        out += [
            f"results/predictions/spectm_{strategy}_{source}_{horizon}.parquet"
            for strategy in config["model"]["strategies"]
        ]
        out.append(f"results/predictions/baselines_{source}_{horizon}.parquet")
    return out


def all_baseline_info(wildcards):
    """Run information (configurations counted) of every baseline grid."""
    return [f"results/predictions/baselines_{s}_{h}.json" for s, h in _cells()]


def all_maps(wildcards):
    """Predicted-microcystin maps for every chip, or the latest maps.latest_n (maps.enabled)."""
    if not config["maps"]["enabled"]:
        return []
    granules = sorted(manifest_granules(), key=lambda g: g.split(".")[1])
    if config["maps"]["latest_n"] is not None:
        granules = granules[-config["maps"]["latest_n"] :]
    return expand("results/maps/{granule}.png", granule=granules)
