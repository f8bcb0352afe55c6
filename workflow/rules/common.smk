# Shared settings and input functions. Logic lives in src/spectm; rules stay declarative.
# The workflow imports the installed spectm package (`make install`, or the conda env's
# post-deploy step); it never puts src/ on a path itself.
import os

import pandas as pd

try:
    from spectm.adapt.settings import METHODS, TASKS
    from spectm.config import check_config_values
    from spectm.io.pace_l2 import L2_AOP_STEM_PATTERN
    from spectm.model.masking import MASK_STRATEGIES
    from spectm.sources.glerl import NCEI_FILES, bundled_glerl_files
    from spectm.train.settings import CORPUS_KEYS, TRAINING_KEYS, subset
except ImportError as err:
    raise WorkflowError(
        f"the spectm package is not importable ({err}): run `make install` (or "
        "`pip install -e .`) in the environment that runs snakemake"
    ) from err

# what the Snakefile's schema cannot express: finite numbers, real dates with start <= end,
# ordered boxes (the same checks as `spectm validate-config`)
check_config_values(config)


wildcard_constraints:
    granule=L2_AOP_STEM_PATTERN,
    strategy="|".join(MASK_STRATEGIES),
    pseed=r"\d+",
    source="matchups|shipped",
    horizon="current_week|8day_ahead",
    method="|".join(["naive", "srf", *METHODS]),
    task="|".join(TASKS),
    product=r"[^/]+",


def one(pattern, **wildcards):
    """The single path ``pattern`` (a rule's output) names for the given wildcards."""
    (path,) = expand(pattern, **wildcards)
    return path


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


def read_manifest(path):
    """The manifest as strings, read once per version of the file (path, mtime, size): every
    granule job's params look up their row in it, and a season has ~1,500 granules."""
    st = os.stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size)
    if _MANIFEST_CACHE.get("key") != key:
        df = pd.read_csv(path, dtype=str).fillna("")
        rows = dict(zip(df["granule"][::-1], df.index[::-1]))  # the first row of a name
        _MANIFEST_CACHE.update(key=key, df=df, rows=rows)
    return _MANIFEST_CACHE


_MANIFEST_CACHE = {}


def manifest_granules(wildcards=None):
    """Granule stems (file name without .nc) listed by the pace_search checkpoint."""
    manifest = checkpoints.pace_search.get().output.manifest
    names = read_manifest(manifest)["df"]["granule"]
    return [n.removesuffix(".nc") for n in names]


def manifest_row(wildcards):
    """This granule's manifest row (url, size, time, version) as plain values."""
    manifest = checkpoints.pace_search.get().output.manifest
    table = read_manifest(manifest)
    row = table["rows"].get(f"{wildcards.granule}.nc")
    if row is None:
        raise ValueError(f"{manifest}: granule {wildcards.granule}.nc is not in the manifest")
    return table["df"].loc[row].to_dict()


def all_chips(wildcards):
    """Every chip of the granules in the manifest."""
    return expand(rules.chip.output.chip, granule=manifest_granules())


def all_flag_stats(wildcards):
    """Per-chip l2_flags statistics."""
    return expand(rules.chip.output.flags, granule=manifest_granules())


def all_quicklooks(wildcards):
    """True-colour quicklooks of every chip."""
    return expand(rules.chip.output.png, granule=manifest_granules())


def dataset_inputs(wildcards):
    """Matchups (source matchups) and samples (8-day-ahead labels) for one labelled dataset."""
    inputs = {"samples": rules.samples.output.samples}
    if wildcards.source == "matchups":
        inputs["matchups"] = rules.matchups.output.matchups
    return inputs


def baseline_inputs(wildcards):
    """A labelled dataset, plus its gridMET AUX features when aux.enabled."""
    inputs = {"dataset": rules.dataset.output.table}
    if config["aux"]["enabled"]:
        inputs["aux"] = rules.aux_features.output.aux
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


def all_datasets(wildcards=None):
    """Every labelled dataset (datasets.sources x datasets.horizons)."""
    d = config["datasets"]
    return expand(rules.dataset.output.table, source=d["sources"], horizon=d["horizons"])


def corpus_labelled_tables(wildcards):
    """The labelled datasets whose spectra join the corpus (pretrain.include_labelled), or none."""
    return all_datasets() if config["pretrain"]["include_labelled"] else []


def _each_dataset(pattern, **wildcards):
    d = config["datasets"]
    return expand(pattern, source=d["sources"], horizon=d["horizons"], **wildcards)


def all_predictions(wildcards):
    """SpecTM (every masking strategy and pretraining seed) and baseline predictions for every
    dataset x horizon."""
    spectm = _each_dataset(
        rules.finetune.output.predictions,
        strategy=config["strategies"],
        pseed=config["pretrain"]["seeds"],
    )
    return spectm + _each_dataset(rules.baselines.output.predictions)


def all_baseline_info(wildcards):
    """Run information (configurations counted) of every baseline grid."""
    return _each_dataset(rules.baselines.output.info)


def each_model(pattern):
    """``pattern`` expanded over the configured masking strategies and pretraining seeds."""
    return expand(pattern, strategy=config["strategies"], pseed=config["pretrain"]["seeds"])


def deploy_dataset(wildcards):
    """The labelled current-week dataset the deployable model is fitted on."""
    return one(rules.dataset.output.table, source=config["deploy"]["dataset"], horizon="current_week")


def report_settings(wildcards):
    """The few settings the report states (not the whole config: an unrelated edit must not
    rerun the report)."""
    return {
        "samples_source": config["samples"]["source"],
        "pace_source": config["pace"]["source"],
        "pace_short_name": config["pace"]["short_name"],
        "matchup": dict(config["matchup"]),
        "resample": dict(config["resample"]),
        "evaluation": dict(config["evaluation"]),
        "pretrain_seeds": list(config["pretrain"]["seeds"]),
        "finetune_fractions": list(config["finetune"]["fractions"]),
        "baseline_algorithms": list(config["baselines"]["algorithms"]),
        "enmap_source": config["enmap"]["source"] if config["enmap"]["enabled"] else "off",
    }


def all_maps(wildcards):
    """Predicted-microcystin maps for every chip, or the latest maps.latest_n (maps.enabled)."""
    if not config["maps"]["enabled"]:
        return []
    granules = sorted(manifest_granules(), key=lambda g: g.split(".")[1])
    if config["maps"]["latest_n"] is not None:
        granules = granules[-config["maps"]["latest_n"] :]
    return expand(rules.microcystin_map.output.png, granule=granules)


def enmap_products(wildcards=None):
    """Product names listed by the enmap_search checkpoint."""
    manifest = checkpoints.enmap_search.get().output.manifest
    return pd.read_csv(manifest, dtype=str)["product"].tolist()


def enmap_manifest_row(wildcards):
    """This product's manifest row as plain values (a changed row re-runs its job)."""
    manifest = checkpoints.enmap_search.get().output.manifest
    df = pd.read_csv(manifest, dtype=str).fillna("")
    rows = df[df["product"] == wildcards.product]
    if rows.empty:
        raise ValueError(f"{manifest}: product {wildcards.product} is not in the manifest")
    return rows.iloc[0].to_dict()


def all_enmap_chips(wildcards):
    """The chip directory of every product in the EnMAP manifest."""
    return expand(rules.enmap_chips.output.chips, product=enmap_products())


def adapt_report_inputs(wildcards):
    """The adaptation tables for the report, when the EnMAP branch is enabled."""
    if not config["enmap"]["enabled"]:
        return {}
    out = rules.adapt_summary.output
    return {"adapt_summary": out.summary, "adapt_table": out.table, "adapt_coverage": out.coverage}


def all_adapt_rows(wildcards):
    """The result row of every task x method x seed of the adaptation experiment."""
    a = config["adapt"]
    return expand(
        "results/adapt/runs/{task}_{method}_{seed}.json",
        task=a["tasks"],
        method=a["methods"],
        seed=a["seeds"],
    )
