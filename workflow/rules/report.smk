# The HTML report: every table and figure, first line saying what was real and what generated.


rule report:
    input:
        samples="results/samples/samples.parquet",
        manifest="results/pace/manifest.csv",
        chips=all_chips,
        flag_stats=all_flag_stats,
        quicklooks=all_quicklooks,
        matchups="results/matchups/matchups.parquet",
        exclusions="results/matchups/exclusions.parquet",
        resample_naive="results/resample/matchups_naive.csv",
        resample_srf="results/resample/matchups_srf.csv",
        coverage=expand("results/resample/coverage_{method}.csv", method=["naive", "srf"]),
        index_bands="results/indices/index_bands.csv",
        datasets=expand(
            "results/datasets/{source}_{horizon}.parquet",
            source=["matchups", "shipped"],
            horizon=["current_week", "8day_ahead"],
        ),
        pixel_pairs="results/pairs/pixel_pairs.parquet",
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
