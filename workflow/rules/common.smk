# Shared settings and input functions. Logic lives in src/spectm; rules stay declarative.
import os
import sys

import pandas as pd

sys.path.insert(0, f"{workflow.basedir}/src")
from spectm.sources.glerl import NCEI_FILES, bundled_glerl_files


# Scripts import spectm from src/ (also inside --sdm conda environments and on cluster nodes).
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (f"{workflow.basedir}/src", os.environ.get("PYTHONPATH", "")) if p
)


wildcard_constraints:
    granule=r"PACE_OCI\.[0-9T]+\.L2\.OC_AOP\.V[0-9_]+(\.NRT)?",


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
