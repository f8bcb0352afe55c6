"""Rule `matchups`: samples x chips -> matchups, all candidates, and a reason for every sample."""

import pandas as pd

from spectm.config import MatchupConfig
from spectm.logs import configure_logging
from spectm.matchup import match_samples, write_matchups

configure_logging(snakemake.log[0])
result = match_samples(
    pd.read_parquet(snakemake.input.samples),
    list(snakemake.input.chips),
    MatchupConfig.from_dict(snakemake.params.matchup, name="matchup"),
)
o = snakemake.output
write_matchups(result, o.matchups, o.candidates, o.exclusions)
