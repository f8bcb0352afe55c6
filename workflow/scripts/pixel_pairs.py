"""Rule `pixel_pairs`: unlabelled (t, t + lead) pixel pairs from the chips, for pretraining."""

from spectm.config import PairsConfig
from spectm.logs import configure_logging
from spectm.pairs import pixel_pairs, write_pixel_pairs

configure_logging(snakemake.log[0])
pairs = pixel_pairs(
    list(snakemake.input.chips), PairsConfig.from_dict(snakemake.params.pairs, name="pairs")
)
write_pixel_pairs(pairs, snakemake.output.pairs)
