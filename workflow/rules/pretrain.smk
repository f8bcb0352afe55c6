# Unlabelled water pixels -> corpus -> SpecTM pretraining per masking strategy and seed
# (pretrain.seeds) -> reconstruction.


rule corpus:
    input:
        chips=all_chips,
        pairs=rules.pixel_pairs.output.pairs,
        # pretrain.include_labelled: the labelled spectra too (never their labels)
        labelled=corpus_labelled_tables,
    output:
        corpus="results/corpus/corpus.parquet",
    log:
        "logs/corpus.log",
    params:
        grid=config["model"]["grid"],
        # only the keys that shape the corpus: an optimiser setting or a new seed keeps it
        corpus=subset(config["pretrain"], CORPUS_KEYS),
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/corpus.py"


rule pretrain:
    # One run per masking strategy and seed; resumes from its checkpoint.pt after a kill.
    input:
        corpus=rules.corpus.output.corpus,
    output:
        model="results/models/pretrain/{strategy}/seed{pseed}/model.pt",
        losses="results/models/pretrain/{strategy}/seed{pseed}/losses.csv",
    log:
        "logs/pretrain/{strategy}_seed{pseed}.log",
    params:
        model=config["model"],
        # only one run's settings: a seed added to pretrain.seeds adds a run, re-runs none
        training=subset(config["pretrain"], TRAINING_KEYS),
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
        table="results/metrics/reconstruction_{strategy}_seed{pseed}.csv",
        figure=report(
            "results/figures/reconstruction_{strategy}_seed{pseed}.png",
            caption="../report/reconstruction.rst",
            category="Pretraining",
        ),
    log:
        "logs/reconstruction/{strategy}_seed{pseed}.log",
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/reconstruction.py"
