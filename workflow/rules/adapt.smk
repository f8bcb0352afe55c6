# TerraMind channel adaptation on the EnMAP chips: naive | srf | learned projections to
# Sentinel-2's 12 bands (and the full-HSI upper bound) x tasks x seeds -> summary table.


rule adapt_run:
    # Every seed of one task x method (the chips and terratorch are loaded once per job).
    input:
        chips=all_enmap_chips,
    output:
        rows=expand("results/adapt/runs/{{task}}_{{method}}_{seed}.json", seed=config["adapt"]["seeds"]),
    log:
        "logs/adapt/{task}_{method}.log",
    params:
        adapt=config["adapt"],
        device=config["device"],
    threads: 1
    priority: 10
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/adapt_run.py"


rule adapt_summary:
    input:
        rows=all_adapt_rows,
        chips=all_enmap_chips,
    output:
        summary="results/adapt/summary.csv",
        table="results/adapt/table.csv",
        coverage="results/adapt/coverage.csv",
    log:
        "logs/adapt/summary.log",
    params:
        adapt=config["adapt"],
        device=config["device"],
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/adapt_summary.py"
