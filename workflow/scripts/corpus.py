"""Rule `corpus`: valid water pixels (+ pixel pairs) on the model grid, split by overpass date."""

from spectm.logs import configure_logging
from spectm.train.corpus import build_corpus
from spectm.io.corpus import write_corpus

configure_logging(snakemake.log[0])
p = snakemake.params
corpus = build_corpus(
    list(snakemake.input.chips),
    grid=p.grid,
    pixel_pairs_path=snakemake.input.pairs,
    labelled_tables=list(snakemake.input.labelled),
    max_pixels=p.corpus["max_pixels"],
    val_fraction=p.corpus["val_fraction"],
    seed=p.corpus["corpus_seed"],
)
write_corpus(corpus, snakemake.output.corpus)
