"""The package's layers: no module imports one above it (docs/architecture.md draws the same)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "spectm"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_io", "tables", "inputs", "data_files", "logs", "config", "workdir"),  # files, settings
    ("geo", "spectral"),  # geodesy, band tables, SRFs, grids, indices
    ("io", "model"),  # product readers/writers; the model and its artefacts
    ("sources", "meteo"),  # where inputs come from
    ("matchup", "pairs", "datasets"),  # samples x pixels -> labelled tables
    ("report",),  # figures and HTML (no science)
    ("evaluate",),  # protocol, baselines, metrics, headline tables
    ("train", "adapt"),  # corpus, pretraining, fine-tuning, the deployable model; TerraMind
    ("predict",),  # applying a deployable model to spectra and chips
    ("cli",),  # the command line
)
"""Parts of ``spectm`` from the bottom up; a part may import its own layer and those below."""

RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _part(module: str) -> str | None:
    """``spectm.train.finetune`` -> ``train``; the top package itself -> None."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "spectm" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``spectm`` import in a file, function-level imports included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            out += [(node.lineno, n) for n in names if n.startswith("spectm")]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("spectm")]
    return out


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_part_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    parts.discard("__init__")
    assert parts == set(RANK), "add new parts of spectm to LAYERS (and docs/architecture.md)"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_reaches_a_higher_layer(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own == "__init__":
        return
    for line, module in _imports(path):
        target = _part(module)
        if target is None or target not in RANK:  # `from spectm import __version__`
            continue
        assert RANK[target] <= RANK[own], (
            f"{path.relative_to(PACKAGE)}:{line} imports {module}: {own} (layer {RANK[own]}) "
            f"must not depend on {target} (layer {RANK[target]})"
        )


def test_the_check_sees_a_violation(tmp_path):
    """The checker itself finds an upward import (so a clean run means something)."""
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from spectm.train.finetune import FullConfig\n")
    assert _imports(bad) == [
        (2, "spectm.train.finetune"),
        (2, "spectm.train.finetune.FullConfig"),
    ]
    assert RANK[_part("spectm.train.finetune") or ""] > RANK["evaluate"]
