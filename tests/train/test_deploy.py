"""The training-domain envelope stored in a deployable model (spectm.train.deploy)."""

import numpy as np
import pytest

from spectm.model.pretrained import DomainEnvelope
from spectm.train.deploy import fit_domain_envelope

GRID = np.array([500.0, 600.0, 700.0])


def ramp_spectra() -> np.ndarray:
    """201 spectra: bands 0 and 2 ramp 0 ... 0.02 sr-1 in steps of 1e-4, band 1 is 0.01."""
    ramp = np.arange(201) * 1e-4
    return np.column_stack([ramp, np.full(201, 0.01), ramp])


def test_envelope_quantiles_tolerance_and_brightness_by_hand():
    env = fit_domain_envelope(ramp_spectra(), GRID)
    # 0.5 % / 99.5 % of 0, 1e-4, ..., 0.02 fall exactly on the 2nd and the 200th value
    np.testing.assert_allclose(env.lo, [1e-4, 0.01, 1e-4], rtol=1e-9)
    np.testing.assert_allclose(env.hi, [0.0199, 0.01, 0.0199], rtol=1e-9)
    np.testing.assert_allclose(env.median, [0.01, 0.01, 0.01], rtol=1e-9)
    # tol = 0.1 * (hi - lo) + 0.001
    np.testing.assert_allclose(env.tol, [0.00298, 0.001, 0.00298], rtol=1e-9)
    # brightness of row i: (2 * i * 1e-4 + 0.01) / 3 / 0.01; rows 1 and 199 are the quantiles
    assert env.brightness_range == pytest.approx((0.0102 / 0.03, 0.0498 / 0.03), rel=1e-9)
    assert env.n == 201 and env.quantiles == (0.005, 0.995)
    assert env.max_outside_fraction == 0.05 and env.brightness_margin == 1.5
    assert DomainEnvelope.from_dict(env.to_dict()) == env


def test_envelope_ignores_missing_values_and_refuses_empty_bands():
    x = ramp_spectra()
    x[::2, 1] = np.nan
    assert fit_domain_envelope(x, GRID).median[1] == pytest.approx(0.01)
    x[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"no finite Rrs at 600 nm"):
        fit_domain_envelope(x, GRID)
    with pytest.raises(ValueError, match=r"shape \(201, 3\); expected \(n >= 1, 2\)"):
        fit_domain_envelope(ramp_spectra(), GRID[:2])
    with pytest.raises(ValueError, match="expected a positive mean Rrs"):
        fit_domain_envelope(-ramp_spectra(), GRID)


def test_envelope_from_dict_names_the_file_and_missing_keys():
    d = fit_domain_envelope(ramp_spectra(), GRID).to_dict()
    del d["tol"]
    with pytest.raises(ValueError, match=r"model\.pt: malformed domain envelope .*'tol'"):
        DomainEnvelope.from_dict(d, what="model.pt")
