"""Rule `pixel_pairs`: unlabelled (t, t + lead) pixel pairs from the chips, for pretraining."""

from spectm.logs import configure_logging
from spectm.pairs import pixel_pairs, write_pixel_pairs

configure_logging(snakemake.log[0])
p = snakemake.params
pairs = pixel_pairs(
    list(snakemake.input.chips),
    lead_days=p.lead_days,
    tolerance_days=p.tolerance_days,
    max_dist_km=p.max_dist_km,
    max_pairs_per_granule_pair=p.max_pairs,
)
write_pixel_pairs(pairs, snakemake.output.pairs)
