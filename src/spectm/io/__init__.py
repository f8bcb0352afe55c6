"""Readers and writers of product files: PACE OCI L2 granules, EnMAP L2A products, chips, corpus."""
