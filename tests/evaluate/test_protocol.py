"""The outer protocols: date-grouped CV cells and next-season cells."""

import numpy as np
import pytest

from spectm.evaluate.protocol import evaluation_cells, season_cells

DATES = np.array(
    ["2023-08-01", "2024-07-01", "2024-07-01", "2024-08-15", "2025-06-20", "2025-09-01"]
)


def test_next_season_trains_on_every_earlier_season():
    cells = list(season_cells(DATES, seeds=[0]))
    assert [c.fold for c in cells] == [0, 1]
    assert {c.protocol for c in cells} == {"next_season"} and {c.fraction for c in cells} == {1.0}
    assert cells[0].train.tolist() == [0] and cells[0].test.tolist() == [1, 2, 3]  # 2023 -> 2024
    assert cells[1].train.tolist() == [0, 1, 2, 3] and cells[1].test.tolist() == [4, 5]


def test_next_season_is_the_same_split_for_every_seed_and_empty_for_one_season():
    by_seed = list(season_cells(DATES, seeds=[0, 7]))
    assert [c.seed for c in by_seed] == [0, 0, 7, 7]
    assert by_seed[0].test.tolist() == by_seed[2].test.tolist()
    assert list(season_cells(DATES[1:4], seeds=[0])) == []


def test_evaluation_cells_yield_both_protocols_in_order():
    dates = np.array([f"2024-07-{d:02d}" for d in range(1, 9)] + ["2025-07-01", "2025-07-02"])
    cells = list(
        evaluation_cells(
            dates, seeds=[0], fractions=[0.5, 1.0], n_splits=2, protocols=["date_cv", "next_season"]
        )
    )
    cv = [c for c in cells if c.protocol == "date_cv"]
    assert len(cv) == 2 * 2  # folds x fractions
    assert cells[-1].protocol == "next_season" and cells[-1].test.tolist() == [8, 9]
    for c in cv:  # no date on both sides
        assert not set(dates[c.train]) & set(dates[c.test])
    only_cv = list(
        evaluation_cells(dates, seeds=[0], fractions=[1.0], n_splits=2, protocols=["date_cv"])
    )
    assert {c.protocol for c in only_cv} == {"date_cv"}


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match=r"unknown evaluation protocol\(s\) \['leave_one_out'\]"):
        list(
            evaluation_cells(
                DATES, seeds=[0], fractions=[1.0], n_splits=2, protocols=["leave_one_out"]
            )
        )
