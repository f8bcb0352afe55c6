# Fine-tuning SpecTM and the sklearn baselines on the same date-grouped outer splits, then the
# metric tables, the deployable model and the per-chip microcystin maps.


rule aux_features:
    # gridMET meteorology over windows before each sample date (aux.enabled; needs network).
    input:
        dataset="results/datasets/{source}_{horizon}.parquet",
    output:
        aux="results/aux/{source}_{horizon}.parquet",
    log:
        "logs/aux/{source}_{horizon}.log",
    params:
        variables=config["aux"]["variables"],
        windows_days=config["aux"]["windows_days"],
    conda:
        "../../envs/ingest.yaml"
    script:
        "../scripts/aux_features.py"


rule finetune:
    input:
        dataset="results/datasets/{source}_{horizon}.parquet",
        model="results/models/pretrain/{strategy}/model.pt",
    output:
        predictions="results/predictions/spectm_{strategy}_{source}_{horizon}.parquet",
    log:
        "logs/finetune/{strategy}_{source}_{horizon}.log",
    wildcard_constraints:
        strategy="targeted|random|none",
    params:
        modes=finetune_modes,
        fractions=config["finetune"]["fractions"],
        full_fractions=config["finetune"]["full_fractions"],
        full_epochs=config["finetune"]["full_epochs"],
        seeds=config["finetune"]["seeds"],
        n_splits=config["finetune"]["n_splits"],
        alpha=config["finetune"]["interval_alpha"],
        device=config["pretrain"]["device"],
        ridge_grid=config["baselines"]["grid"],
        inner_splits=config["baselines"]["inner_splits"],
    threads: 1
    priority: 5
    conda:
        "../../envs/train.yaml"
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
        grid=config["baselines"]["grid"],
        algorithms=config["baselines"]["algorithms"],
        feature_sets=baseline_feature_sets,
        fractions=config["baselines"]["fractions"],
        seeds=config["finetune"]["seeds"],
        n_splits=config["finetune"]["n_splits"],
        inner_splits=config["baselines"]["inner_splits"],
        alpha=config["finetune"]["interval_alpha"],
    threads: 1
    # Long jobs start before the short ones that can fill the last minutes.
    priority: 10
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/baselines.py"


rule metrics:
    input:
        predictions=all_predictions,
        baseline_info=all_baseline_info,
    output:
        summary=report("results/metrics/summary.csv", caption="../report/summary.rst", category="Metrics"),
        comparison="results/metrics/comparison.csv",
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
        alpha=config["finetune"]["interval_alpha"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/metrics.py"


rule deploy_model:
    # The deployable current-week model: SpecTM (targeted) fine-tuned on all labelled rows.
    input:
        dataset=f"results/datasets/{config['finetune']['deploy_dataset']}_current_week.parquet",
        model="results/models/pretrain/targeted/model.pt",
    output:
        model="results/models/microcystin_current_week.pt",
    log:
        "logs/deploy_model.log",
    params:
        mode=config["finetune"]["deploy_mode"],
        alpha=config["finetune"]["interval_alpha"],
        epochs=config["finetune"]["full_epochs"],
        device=config["pretrain"]["device"],
        ridge_grid=config["baselines"]["grid"],
        inner_splits=config["baselines"]["inner_splits"],
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/deploy_model.py"


rule microcystin_map:
    input:
        chip="results/chips/pace/{granule}.nc",
        model="results/models/microcystin_current_week.pt",
    output:
        nc="results/maps/{granule}.nc",
        png=report("results/maps/{granule}.png", caption="../report/map.rst", category="Maps"),
    log:
        "logs/maps/{granule}.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/microcystin_map.py"
