# Unlabelled water pixels -> corpus -> SpecTM pretraining per masking strategy -> reconstruction.


rule corpus:
    input:
        chips=all_chips,
        pairs="results/pairs/pixel_pairs.parquet",
    output:
        corpus="results/corpus/corpus.parquet",
    log:
        "logs/corpus.log",
    params:
        grid=config["model"]["grid"],
        max_pixels=config["pretrain"]["max_pixels"],
        val_fraction=config["pretrain"]["val_fraction"],
        seed=config["pretrain"]["seed"],
    priority: 20
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/corpus.py"


rule pretrain:
    # Resumes from results/models/pretrain/{strategy}/checkpoint.pt after a kill.
    input:
        corpus="results/corpus/corpus.parquet",
    output:
        model="results/models/pretrain/{strategy}/model.pt",
        losses="results/models/pretrain/{strategy}/losses.csv",
    log:
        "logs/pretrain/{strategy}.log",
    wildcard_constraints:
        strategy="targeted|random|none",
    params:
        cfg=pretrain_config,
    threads: 1
    resources:
        gpu=0,
    # Gates fine-tuning, the deployable model and the maps.
    priority: 20
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/pretrain.py"


rule reconstruction:
    # Masked-band reconstruction on held-out overpass dates vs cubic-spline interpolation.
    input:
        model="results/models/pretrain/{strategy}/model.pt",
        corpus="results/corpus/corpus.parquet",
    output:
        table="results/metrics/reconstruction_{strategy}.csv",
        figure=report(
            "results/figures/reconstruction_{strategy}.png",
            caption="../report/reconstruction.rst",
            category="Pretraining",
        ),
    log:
        "logs/reconstruction/{strategy}.log",
    wildcard_constraints:
        strategy="targeted|random|none",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/reconstruction.py"
