# The HTML report: every table and figure, first line saying what was real and what generated.


rule report:
    input:
        samples="results/samples/samples.parquet",
        manifest="results/pace/manifest.csv",
        chips=all_chips,
        flag_stats=all_flag_stats,
        quicklooks=all_quicklooks,
    output:
        html="results/report/index.html",
    log:
        "logs/report.log",
    params:
        config=config,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report.py"
