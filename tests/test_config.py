"""The workflow config: every key validated, errors name the key (package loader and Snakemake)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spectm.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def cfg() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid(cfg):
    validate_config(cfg)


def test_every_key_is_commented():
    """Each key line of config.yaml is preceded by a comment line (or a parent key's comment)."""
    lines = (ROOT / "config.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-"):
            continue
        if stripped.endswith(":"):  # a section header
            continue
        assert lines[i - 1].strip().startswith("#"), (
            f"config.yaml line {i + 1} has no comment above it: {line!r}"
        )


def test_unknown_key_is_named(cfg):
    bad = copy.deepcopy(cfg)
    bad["matchup"]["radius_kms"] = 2
    with pytest.raises(ConfigError, match=r"unknown config key 'matchup\.radius_kms'"):
        validate_config(bad)


def test_wrong_type_is_named(cfg):
    bad = copy.deepcopy(cfg)
    bad["matchup"]["window_days"] = "four"
    with pytest.raises(ConfigError, match=r"config key 'matchup\.window_days'"):
        validate_config(bad)


def test_missing_key_is_named(cfg):
    bad = copy.deepcopy(cfg)
    del bad["pace"]["demo"]["seed"]
    with pytest.raises(ConfigError, match=r"missing config key 'pace\.demo\.seed'"):
        validate_config(bad)


def test_load_config_names_the_file(tmp_path, cfg):
    bad = copy.deepcopy(cfg)
    bad["pace"]["sourse"] = "demo"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown config key 'pace\.sourse'"):
        load_config(path)


def test_snakemake_stops_on_a_typo_and_names_the_key(tmp_path, cfg):
    """The Snakefile validates at load with the same schema: a dry-run fails naming the key."""
    bad = copy.deepcopy(cfg)
    bad["pairs"]["lead_dayz"] = 8
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    snakemake = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run(
        [str(snakemake), "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n", "--cores", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "lead_dayz" in proc.stdout + proc.stderr
