"""Readers and writers of product files: PACE OCI L2 granules and the chip contract."""
