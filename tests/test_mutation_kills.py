"""Tests written for survivors of `make mutate` (docs/testing.md, "Mutation scores").

Each test names the mutant it kills: a boundary or a condition of the code that no other test
pinned. Expectations are written out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from spectm.evaluate.conformal import loo_mean_abs_residuals
from spectm.evaluate.splits import date_grouped_splits, subsample_fraction
from spectm.model.masking import check_windows, make_mask


def test_two_dates_are_enough_to_split():  # splits mutants 5, 6: `< 2` -> `<= 2`, `< 3`
    folds = date_grouped_splits(np.array([1, 1, 2, 2]), n_splits=5, seed=0)
    assert len(folds) == 2
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == [0, 1, 2, 3]


def test_label_fraction_above_one_is_refused():  # splits mutant 6: `<= 1` -> `<= 2`
    with pytest.raises(ValueError, match=r"label fraction must be in \(0, 1\], got 1.5"):
        subsample_fraction(np.arange(10), fraction=1.5, seed=0)


def test_leave_one_out_residuals_of_two_values():  # conformal mutants 7, 8: `n < 2` -> `<= 2`
    # y = (1, 3): each left-out value is 2 away from the other one
    np.testing.assert_allclose(loo_mean_abs_residuals(np.array([1.0, 3.0])), [2.0, 2.0])


@pytest.mark.parametrize(
    "window",
    [(600.0, 610.0, 620.0), (620.0, 620.0)],  # masking mutants 7 (`or` -> `and`), 14 (`>=` -> `>`)
)
def test_a_window_is_two_increasing_wavelengths(window):
    with pytest.raises(ValueError, match="must be \\(lo_nm, hi_nm\\) with finite lo < hi"):
        check_windows([window])


def test_targeted_masks_use_the_given_windows():  # masking mutant 19: windows_nm dropped
    wl = np.array([500.0, 550.0, 600.0, 650.0])
    mask = make_mask("targeted", wl, 2, windows_nm=[(540.0, 560.0)])
    assert mask.tolist() == [[False, True, False, False]] * 2


def test_random_masks_with_exactly_as_many_eligible_bands_as_masked():  # masking mutant 53
    wl = np.array([600.0, 620.0, 630.0, 750.0])  # the default windows hold 620 and 630 nm
    eligible = np.array([True, False, False, True])  # exactly two bands may be drawn
    mask = make_mask("random", wl, 3, rng=np.random.default_rng(0), eligible=eligible)
    assert mask.tolist() == [[True, False, False, True]] * 3


def test_range_check_message_and_inclusive_ends(tmp_path):  # glerl cells check_range 4-22
    import pandas as pd

    from spectm.sources.glerl.cells import check_range

    path = tmp_path / "samples.csv"
    values = pd.Series(["0", "10", "11", "-1", "12"])
    parsed = np.array([0.0, 10.0, 11.0, -1.0, 12.0])
    rows = np.array([1, 2, 3, 4, 5])
    check_range(path, "Depth", values[:2], parsed[:2], rows[:2], lo=0, hi=10, expected="m")
    with pytest.raises(ValueError) as err:
        check_range(path, "Depth", values, parsed, rows, lo=0, hi=10, expected="metres")
    assert str(err.value) == (
        f"{path}: data row 3 (file line 4), column 'Depth': '11' is outside [0, 10]; "
        "expected metres; 2 more such cell(s) in this column"
    )


def test_implausible_values_and_detection_limits_are_excluded_at_the_ends_only():
    # glerl cells exclude_implausible 7-28
    from collections import defaultdict

    import pandas as pd

    from spectm.sources.glerl.cells import exclude_implausible

    cells = pd.Series(["0", "50", "51", "<51", "<50", "-1"])
    value = np.array([0.0, 50.0, 51.0, np.nan, np.nan, -1.0])
    censored = np.array([False, False, False, True, True, False])
    dl = np.array([np.nan, np.nan, np.nan, 51.0, 50.0, np.nan])
    notes = defaultdict(list)
    v, c, d = exclude_implausible(
        "MC", cells, (value, censored, dl), notes, name="microcystin", unit="ug/L", lo=0, hi=50
    )
    assert sorted(notes) == [2, 3, 5]  # 51, <51 and -1; the ends 0, 50 and <50 stay
    np.testing.assert_array_equal(v, [0.0, 50.0, np.nan, np.nan, np.nan, np.nan])
    assert c.tolist() == [False, False, False, False, True, False]
    np.testing.assert_array_equal(d, [np.nan, np.nan, np.nan, np.nan, 50.0, np.nan])
    assert notes[3] == [
        "microcystin: '<51' (column 'MC') is outside the plausible range 0..50 ug/L; excluded"
    ]
