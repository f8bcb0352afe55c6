# Labelled datasets for fine-tuning and baselines: {source} x {horizon}.
#   source matchups: the workflow's own matchups; source shipped: the 178 real PACE spectra at
#   GLERL stations bundled with the package (so the demo reports real-spectra results too).


rule dataset:
    input:
        unpack(dataset_inputs),
    output:
        table="results/datasets/{source}_{horizon}.parquet",
    log:
        "logs/datasets/{source}_{horizon}.log",
    params:
        lead_days=config["pairs"]["lead_days"],
        tolerance_days=config["pairs"]["tolerance_days"],
        depth_categories=config["matchup"]["depth_categories"],
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/dataset.py"
