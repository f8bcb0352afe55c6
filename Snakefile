# spectm: PACE OCI + NOAA GLERL -> SpecTM spectral foundation model for microcystin monitoring.
# This file is a table of contents: configuration (config.yaml, a link to the package's
# src/spectm/config/config.yaml; validated by its schema), one include per stage, `all`.
from snakemake.logging import logger
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "src/spectm/config/schema.yaml")  # and common.smk: check_config_values


include: "workflow/rules/common.smk"
include: "workflow/rules/samples.smk"
include: "workflow/rules/pace.smk"
include: "workflow/rules/matchup.smk"
include: "workflow/rules/resample.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/enmap.smk"
include: "workflow/rules/adapt.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/report/index.html",


onstart:
    # Preflight: when jobs about to run need the network (pace.source: earthdata,
    # samples.source: ncei, enmap.source: stac), check the credentials and that every host
    # answers now, within seconds, instead of failing after unrelated work (docs/usage.md,
    # "When a run fails"). Snakemake runs onstart after building the DAG, never on a dry-run.
    from spectm.sources.preflight import preflight

    try:
        jobs = {job.rule.name for job in workflow.dag.needrun_jobs()}
    except AttributeError:  # Snakemake's internals moved: check every configured source
        jobs = {r.name for r in workflow.rules}
    for line in preflight(config, jobs):
        logger.info(f"preflight ok: {line}")
