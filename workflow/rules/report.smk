# The HTML report: every table and figure, first line saying what was real and what generated.


rule report:
    input:
        unpack(adapt_report_inputs),
        samples=rules.samples.output.samples,
        # ancient: a search that finds nothing new must not rerun the report (a new or changed
        # granule reaches it through its chip)
        manifest=ancient(rules.pace_search.output.manifest),
        chips=all_chips,
        flag_stats=all_flag_stats,
        quicklooks=all_quicklooks,
        matchups=rules.matchups.output.matchups,
        exclusions=rules.matchups.output.exclusions,
        resample_naive=one(rules.resample_matchups.output.table, method="naive"),
        resample_srf=one(rules.resample_matchups.output.table, method="srf"),
        coverage=expand(rules.resample_matchups.output.coverage, method=["naive", "srf"]),
        index_bands=rules.indices.output.bands,
        datasets=all_datasets,
        pixel_pairs=rules.pixel_pairs.output.pairs,
        models=each_model(rules.pretrain.output.model),
        losses=each_model(rules.pretrain.output.losses),
        recon_tables=each_model(rules.reconstruction.output.table),
        recon_figures=each_model(rules.reconstruction.output.figure),
        summary=rules.metrics.output.summary,
        comparison=rules.metrics.output.comparison,
        comparisons=rules.metrics.output.comparisons,
        ablation=rules.metrics.output.ablation,
        efficiency=rules.metrics.output.efficiency,
        intervals=rules.metrics.output.intervals,
        efficiency_figure=rules.metrics.output.efficiency_figure,
        scatter_figure=rules.metrics.output.scatter_figure,
        baseline_info=all_baseline_info,
        deploy_model=rules.deploy_model.output.model,
        maps=all_maps,
        assumptions=f"{workflow.basedir}/docs/assumptions.md",
    output:
        html="results/report/index.html",
    log:
        "logs/report.log",
    params:
        settings=report_settings,
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/report.py"
