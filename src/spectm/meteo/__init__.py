"""Auxiliary (non-spectral) features for the samples, e.g. gridMET meteorology (``gridmet``)."""
