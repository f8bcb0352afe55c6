# Unlabelled water pixels -> corpus -> SpecTM pretraining per masking strategy -> reconstruction.


rule corpus:
    input:
        chips=all_chips,
        pairs=rules.pixel_pairs.output.pairs,
    output:
        corpus="results/corpus/corpus.parquet",
    log:
        "logs/corpus.log",
    params:
        grid=config["model"]["grid"],
        pretrain=config["pretrain"],
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/corpus.py"


rule pretrain:
    # Resumes from results/models/pretrain/{strategy}/checkpoint.pt after a kill.
    input:
        corpus=rules.corpus.output.corpus,
    output:
        model="results/models/pretrain/{strategy}/model.pt",
        losses="results/models/pretrain/{strategy}/losses.csv",
    log:
        "logs/pretrain/{strategy}.log",
    params:
        model=config["model"],
        pretrain=config["pretrain"],
        device=config["device"],
    threads: 1
    resources:
        gpu=0,
    # Gates fine-tuning, the deployable model and the maps.
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/pretrain.py"


rule reconstruction:
    # Masked-band reconstruction on held-out overpass dates vs cubic-spline interpolation.
    input:
        model=rules.pretrain.output.model,
        corpus=rules.corpus.output.corpus,
    output:
        table="results/metrics/reconstruction_{strategy}.csv",
        figure=report(
            "results/figures/reconstruction_{strategy}.png",
            caption="../report/reconstruction.rst",
            category="Pretraining",
        ),
    log:
        "logs/reconstruction/{strategy}.log",
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/reconstruction.py"
