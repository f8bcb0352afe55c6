"""Small helpers for the report tests: PNG headers and capturing figures before they are saved."""

from __future__ import annotations

import struct
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk; asserts the PNG signature."""
    head = Path(path).read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def capture_saved_figures(monkeypatch, module) -> dict[str, object]:
    """Record every figure ``module.save_figure`` saves (keyed by file name), then save it."""
    figures: dict[str, object] = {}
    real = module.save_figure

    def keep(fig, path, **kwargs):
        figures[Path(path).name] = fig
        return real(fig, path, **kwargs)

    monkeypatch.setattr(module, "save_figure", keep)
    return figures
