# Fine-tuning SpecTM and the sklearn baselines on the same date-grouped outer splits, then the
# metric tables, the deployable model and the per-chip microcystin maps.


rule aux_features:
    # gridMET meteorology over windows before each sample date (aux.enabled; needs network).
    input:
        dataset=rules.dataset.output.table,
    output:
        aux="results/aux/{source}_{horizon}.parquet",
    log:
        "logs/aux/{source}_{horizon}.log",
    params:
        variables=config["aux"]["variables"],
        windows_days=config["aux"]["windows_days"],
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/aux_features.py"


rule finetune:
    input:
        dataset=rules.dataset.output.table,
        model=rules.pretrain.output.model,
    output:
        predictions="results/predictions/spectm_{strategy}_seed{pseed}_{source}_{horizon}.parquet",
    log:
        "logs/finetune/{strategy}_seed{pseed}_{source}_{horizon}.log",
    params:
        evaluation=config["evaluation"],
        modes=finetune_modes,
        fractions=config["finetune"]["fractions"],
        full_fractions=config["finetune"]["full_fractions"],
        full_epochs=config["finetune"]["full_epochs"],
        pooling=config["finetune"]["pooling"],
        probe_inputs=config["finetune"]["probe_inputs"],
        device=config["device"],
    threads: 1
    priority: 5
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/finetune.py"


rule baselines:
    input:
        unpack(baseline_inputs),
    output:
        predictions="results/predictions/baselines_{source}_{horizon}.parquet",
        info="results/predictions/baselines_{source}_{horizon}.json",
    log:
        "logs/baselines/{source}_{horizon}.log",
    params:
        evaluation=config["evaluation"],
        algorithms=config["baselines"]["algorithms"],
        feature_sets=baseline_feature_sets,
        fractions=config["baselines"]["fractions"],
    threads: 1
    # Long jobs start before the short ones that can fill the last minutes.
    priority: 10
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/baselines.py"


rule metrics:
    input:
        predictions=all_predictions,
        baseline_info=all_baseline_info,
    output:
        summary=report("results/metrics/summary.csv", caption="../report/summary.rst", category="Metrics"),
        comparison="results/metrics/comparison.csv",
        comparisons="results/metrics/comparisons.csv",
        ablation="results/metrics/ablation.csv",
        efficiency="results/metrics/label_efficiency.csv",
        intervals="results/metrics/intervals.csv",
        efficiency_figure=report(
            "results/figures/label_efficiency.png",
            caption="../report/label_efficiency.rst",
            category="Metrics",
        ),
        scatter_figure=report(
            "results/figures/predicted_vs_observed.png",
            caption="../report/scatter.rst",
            category="Metrics",
        ),
    log:
        "logs/metrics.log",
    params:
        alpha=config["evaluation"]["interval_alpha"],
        n_boot=config["evaluation"]["bootstrap"],
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/metrics.py"


rule deploy_model:
    # The deployable current-week model: SpecTM (targeted, the first pretraining seed) fine-tuned
    # on all labelled rows.
    input:
        dataset=deploy_dataset,
        model=one(rules.pretrain.output.model, strategy="targeted", pseed=config["pretrain"]["seeds"][0]),
    output:
        model="results/models/microcystin_current_week.pt",
    log:
        "logs/deploy_model.log",
    params:
        evaluation=config["evaluation"],
        mode=config["deploy"]["mode"],
        epochs=config["finetune"]["full_epochs"],
        device=config["device"],
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/deploy_model.py"


rule microcystin_map:
    input:
        chip=rules.chip.output.chip,
        model=rules.deploy_model.output.model,
    output:
        nc="results/maps/{granule}.nc",
        png=report("results/maps/{granule}.png", caption="../report/map.rst", category="Maps"),
        tif="results/maps/{granule}.tif",
    log:
        "logs/maps/{granule}.log",
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/microcystin_map.py"
