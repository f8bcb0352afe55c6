"""Paths to the package data shipped with spectm (provenance: ``spectm/data/SOURCES.md``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Absolute path of a file under ``spectm/data`` (e.g. ``data_path("glerl", "x.csv")``)."""
    root = resources.files("spectm") / "data"
    path = Path(str(root.joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"spectm package data file not found: {path}")
    return path
