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
            source=config["finetune"]["datasets"],
            horizon=config["finetune"]["horizons"],
        ),
        pixel_pairs="results/pairs/pixel_pairs.parquet",
        models=expand("results/models/pretrain/{s}/model.pt", s=config["model"]["strategies"]),
        losses=expand("results/models/pretrain/{s}/losses.csv", s=config["model"]["strategies"]),
        recon_tables=expand(
            "results/metrics/reconstruction_{s}.csv", s=config["model"]["strategies"]
        ),
        recon_figures=expand(
            "results/figures/reconstruction_{s}.png", s=config["model"]["strategies"]
        ),
        summary="results/metrics/summary.csv",
        comparison="results/metrics/comparison.csv",
        ablation="results/metrics/ablation.csv",
        efficiency="results/metrics/label_efficiency.csv",
        intervals="results/metrics/intervals.csv",
        efficiency_figure="results/figures/label_efficiency.png",
        scatter_figure="results/figures/predicted_vs_observed.png",
        baseline_info=all_baseline_info,
        deploy_model="results/models/microcystin_current_week.pt",
        maps=all_maps,
        assumptions=f"{workflow.basedir}/docs/assumptions.md",
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
