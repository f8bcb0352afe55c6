"""Spectral tools: band tables, model grids, Sentinel-2 resampling, bio-optical indices."""
