# Samples x chips -> matchups (with a reason for every miss) -> 8-day-ahead pairs.


rule matchups:
    input:
        samples=rules.samples.output.samples,
        chips=all_chips,
    output:
        matchups="results/matchups/matchups.parquet",
        candidates="results/matchups/candidates.parquet",
        exclusions="results/matchups/exclusions.parquet",
    log:
        "logs/matchups.log",
    params:
        matchup=config["matchup"],
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/matchups.py"


rule pixel_pairs:
    # Unlabelled (t, t + lead) pixel pairs from the chips, for pretraining.
    input:
        chips=all_chips,
    output:
        pairs="results/pairs/pixel_pairs.parquet",
    log:
        "logs/pixel_pairs.log",
    params:
        pairs=config["pairs"],
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/pixel_pairs.py"
