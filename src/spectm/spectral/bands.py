"""Sensor band tables as data, each with its source.

PACE OCI L2 AOP Rrs: the 172 ``wavelength_3d`` values with exact centres and FWHM from the
OCI RSR (``data/pace_oci/pace_oci_l2_aop_rrs_wavelengths_172.csv``, see ``data/SOURCES.md``).
EnMAP HSI: 224 band centres and FWHM from the DLR/GFZ band table (``data/enmap/...``).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from spectm.data_files import data_path


@cache
def pace_oci_rrs_bands() -> pd.DataFrame:
    """PACE OCI L2 AOP Rrs bands.

    Returns:
        Table of 172 rows with columns ``wavelength`` (nominal ``wavelength_3d``, nm, int),
        ``centre_nm`` (exact centre from the RSR, nm) and ``fwhm_nm`` (nm), in file order.
    """
    df = pd.read_csv(data_path("pace_oci", "pace_oci_l2_aop_rrs_wavelengths_172.csv"))
    return pd.DataFrame(
        {
            "wavelength": df["l2_aop_wavelength_3d"].astype(int),
            "centre_nm": df["centre_nm"].astype(float),
            "fwhm_nm": df["fwhm_nm"].astype(float),
        }
    )


def pace_oci_rrs_wavelengths() -> np.ndarray:
    """The 172 nominal PACE OCI L2 AOP Rrs wavelengths (nm), shape ``(172,)``."""
    return pace_oci_rrs_bands()["wavelength"].to_numpy(dtype=float)


@cache
def enmap_bands() -> pd.DataFrame:
    """EnMAP HSI bands: ``band`` (1-224), ``detector``, ``centre_nm``, ``fwhm_nm``."""
    df = pd.read_csv(data_path("enmap", "enmap_hsi_band_centres_fwhm.csv"))
    return pd.DataFrame(
        {
            "band": df["band"].astype(int),
            "detector": df["detector"],
            "centre_nm": df["centre_wavelength_nm"].astype(float),
            "fwhm_nm": df["fwhm_nm"].astype(float),
        }
    )
