"""The TerraMind channel-adaptation experiment on EnMAP chips (Leonardi et al., arXiv 2603.06690).

EnMAP reflectance is projected to TerraMind's 12 Sentinel-2 L2A bands (``naive``, ``srf``, or a
``learned`` 1x1 map started from ``srf``), standardised as TerraMind expects, and TerraMind is
fine-tuned for per-pixel segmentation and per-chip regression; a small spectral-spatial CNN on all
EnMAP bands (``full_hsi``) is the upper bound. Modules, bottom up:

- :mod:`~spectm.adapt.settings`: the one frozen settings dataclass, method and task names;
- :mod:`~spectm.adapt.chips`: EnMAP chips in memory, valid pixels, per-chip targets;
- :mod:`~spectm.adapt.projection`: the EnMAP -> S2L2A projections as torch modules + coverage;
- :mod:`~spectm.adapt.terramind`: TerraMind from terratorch's registry, offline weights;
- :mod:`~spectm.adapt.fullhsi`: the full-HSI CNN;
- :mod:`~spectm.adapt.heads`: FCN segmentation head, regression head, the assembled model;
- :mod:`~spectm.adapt.metrics`: mIoU and R²;
- :mod:`~spectm.adapt.fit`: the training loop (AdamW, early stopping, seeded);
- :mod:`~spectm.adapt.experiment`: scene split, one run -> one JSON row, summary tables.
"""
