"""spectm: spectral targeted-masking foundation model workflow for microcystin monitoring."""

__version__ = "0.1.0"
