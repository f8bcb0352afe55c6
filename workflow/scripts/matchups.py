"""Rule `matchups`: samples x chips -> matchups, all candidates, and a reason for every sample."""

import pandas as pd

from spectm.logs import configure_logging
from spectm.matchup import match_samples, write_matchups

configure_logging(snakemake.log[0])
p = snakemake.params
result = match_samples(
    pd.read_parquet(snakemake.input.samples),
    list(snakemake.input.chips),
    window_days=p.window_days,
    radius_km=p.radius_km,
    depth_categories=tuple(p.depth_categories),
    min_valid_frac=p.min_valid_frac,
    max_cv=p.max_cv,
    drop_position_flagged=p.drop_position_flagged,
)
o = snakemake.output
write_matchups(result, o.matchups, o.candidates, o.exclusions)
