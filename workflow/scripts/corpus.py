"""Rule `corpus`: valid water pixels (+ pixel pairs) on the model grid, split by overpass date."""

from spectm.logs import configure_logging
from spectm.train.corpus import build_corpus, write_corpus

configure_logging(snakemake.log[0])
p = snakemake.params
corpus = build_corpus(
    list(snakemake.input.chips),
    grid=p.grid,
    pixel_pairs_path=snakemake.input.pairs,
    max_pixels=p.max_pixels,
    val_fraction=p.val_fraction,
    seed=p.seed,
)
write_corpus(corpus, snakemake.output.corpus)
