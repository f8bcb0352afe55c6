# Matched spectra -> Sentinel-2 L2A bands (naive | SRF) and bio-optical indices.


rule resample_matchups:
    input:
        matchups=rules.matchups.output.matchups,
    output:
        table="results/resample/matchups_{method}.csv",
        coverage="results/resample/coverage_{method}.csv",
    log:
        "logs/resample/{method}.log",
    params:
        target=config["resample"]["target"],
        version=config["resample"]["srf_version"],
        method="{method}",
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/resample.py"


rule indices:
    input:
        matchups=rules.matchups.output.matchups,
    output:
        table="results/indices/matchup_indices.csv",
        bands="results/indices/index_bands.csv",
    log:
        "logs/indices.log",
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/indices.py"
