"""On the demo, matchups of the REAL GLERL samples recover the REAL PACE spectra.

Replay granules are written for real granules of the shipped table, chipped with the default
flag screen, and matched with the real bundled samples; for every (granule, station) pair of the
shipped table that matched, the matched spectrum must equal the real one (the station pixel is
exact; its 2 km neighbours carry 1 % noise, so the median is within a few percent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spectm.data_files import data_path
from spectm.io.pace_l2 import NASA_MATCHUP_EXCLUDE, make_chip
from spectm.matchup import match_samples
from spectm.sources.glerl import bundled_glerl_files, harmonise_samples
from spectm.sources.pace.replay import write_demo_granule
from spectm.tables import find_rrs_columns
from tests.conftest import MATCHUP

GRANULES = (
    "PACE_OCI.20240804T175305.L2.OC_AOP.V3_0.nc",
    "PACE_OCI.20240812T173423.L2.OC_AOP.V3_0.nc",
)
BBOX = (-83.5, 41.3, -82.45, 42.2)


@pytest.fixture(scope="module")
def demo_matchups(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    chips = []
    for g in GRANULES:
        granule = write_demo_granule(
            g, tmp / g, shape=(128, 112), pixel_km=1.2, cloud_fraction=0.15, seed=42
        )
        chips.append(
            make_chip(granule, tmp / f"chip_{g}", bbox=BBOX, exclude_flags=NASA_MATCHUP_EXCLUDE)
        )
    samples = harmonise_samples(bundled_glerl_files(), position_max_km=2.0)
    return samples, match_samples(samples, chips, MATCHUP)


def test_matchups_recover_the_real_spectra(demo_matchups):
    _, result = demo_matchups
    real = pd.read_csv(
        data_path("pace_oci", "lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv")
    )
    real = real[real["granule"].isin(GRANULES)]
    m = result.matchups
    merged = m.merge(
        real, left_on=["granule", "site"], right_on=["granule", "station"], suffixes=("_match", "")
    )
    # every real (granule, station) pair of these granules is recovered
    assert len(merged) == len(real) == 4
    cols, _ = find_rrs_columns(real)
    got = merged[[f"{c}_match" for c in cols]].to_numpy(float)
    want = merged[cols].to_numpy(float)
    for g, w in zip(got, want, strict=True):
        assert np.corrcoef(g, w)[0, 1] > 0.999
        blue_green = slice(20, 90)  # 395-570 nm: well above noise
        np.testing.assert_allclose(g[blue_green], w[blue_green], rtol=0.03)


def test_exclusions_account_for_every_sample(demo_matchups):
    samples, result = demo_matchups
    excl = result.exclusions
    assert excl["sample_id"].is_unique
    assert set(excl["sample_id"]) == set(samples["sample_id"])
    matched = excl.loc[excl["status"] == "matched", "sample_id"]
    assert set(matched) == set(result.matchups["sample_id"])
    assert (excl.loc[excl["status"] == "excluded", "reason"] != "matched").all()
