# Samples x chips -> matchups (with a reason for every miss) -> 8-day-ahead pairs.


rule matchups:
    input:
        samples="results/samples/samples.parquet",
        chips=all_chips,
    output:
        matchups="results/matchups/matchups.parquet",
        candidates="results/matchups/candidates.parquet",
        exclusions="results/matchups/exclusions.parquet",
    log:
        "logs/matchups.log",
    params:
        window_days=config["matchup"]["window_days"],
        radius_km=config["matchup"]["radius_km"],
        depth_categories=config["matchup"]["depth_categories"],
        min_valid_frac=config["matchup"]["min_valid_frac"],
        max_cv=config["matchup"]["max_cv"],
        drop_position_flagged=config["matchup"]["drop_position_flagged"],
    priority: 20
    conda:
        "../../envs/ingest.yaml"
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
        lead_days=config["pairs"]["lead_days"],
        tolerance_days=config["pairs"]["tolerance_days"],
        max_dist_km=config["pairs"]["pixel_max_dist_km"],
        max_pairs=config["pairs"]["max_pixel_pairs_per_granule_pair"],
    priority: 20
    conda:
        "../../envs/ingest.yaml"
    script:
        "../scripts/pixel_pairs.py"
