# spectm: PACE OCI + NOAA GLERL -> SpecTM spectral foundation model for microcystin monitoring.
# This file is a table of contents: configuration (config.yaml, a link to the package's
# src/spectm/config/config.yaml; validated by its schema), one include per stage, `all`.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "src/spectm/config/schema.yaml")


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
