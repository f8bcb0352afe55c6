#!/usr/bin/env bash
# Snakemake runs this inside the new conda environment (envs/spectm.yaml) right after creating it:
# install the spectm package from the checkout that snakemake runs in (its working directory, the
# repository root, as the README's commands use), without touching the conda-installed dependencies.
set -euo pipefail
root="${SPECTM_SOURCE:-$PWD}"
if [[ ! -f "$root/pyproject.toml" ]]; then
    echo "spectm post-deploy: no pyproject.toml in $root; run snakemake from the repository root" \
        "or set SPECTM_SOURCE to it" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation "$root"
