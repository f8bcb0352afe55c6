"""The workflow config: every key validated, errors name the key (package loader and Snakemake)."""

from __future__ import annotations

import copy
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from spectm.config import (
    DEFAULT_CONFIG_PATH,
    SCHEMA_PATH,
    ConfigError,
    EvaluationConfig,
    SpectmConfig,
    load_config,
    read_config,
    validate_config,
)
from spectm.model.masking import MASK_STRATEGIES

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


def test_root_config_is_the_package_default():
    """One file holds every default: the repository's config.yaml is the package's."""
    assert (ROOT / "config.yaml").resolve() == DEFAULT_CONFIG_PATH.resolve()
    assert SCHEMA_PATH.parent == DEFAULT_CONFIG_PATH.parent  # both are package data


def test_typed_sections_hold_every_key(cfg):
    typed = SpectmConfig.from_dict(cfg)
    for name, value in cfg.items():
        section = getattr(typed, name)
        plain = section.to_dict() if hasattr(section, "to_dict") else section
        if isinstance(plain, tuple):
            plain = list(plain)
        assert plain == value, name
    assert isinstance(typed.evaluation, EvaluationConfig) and typed.evaluation.seeds == (0, 1, 2)
    with pytest.raises(ValueError, match=r"config section 'evaluation': missing keys \['grid'\]"):
        EvaluationConfig.from_dict(
            {k: v for k, v in cfg["evaluation"].items() if k != "grid"}, name="evaluation"
        )


def test_strategy_names_come_from_the_masking_module():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    assert tuple(schema["properties"]["strategies"]["items"]["enum"]) == MASK_STRATEGIES
    full = schema["properties"]["finetune"]["properties"]["full_strategies"]["items"]["enum"]
    assert tuple(full) == MASK_STRATEGIES


def _merged(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def test_paper_config_layers_on_the_default(cfg):
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    merged = _merged(cfg, paper)
    validate_config(merged)
    typed = SpectmConfig.from_dict(merged)
    assert typed.model.preset == "paper" and typed.evaluation.grid == "full"
    assert len(typed.evaluation.seeds) == 10 and typed.pretrain.max_epochs == 100
    assert tuple(typed.pretrain.seeds) == (0, 1, 2, 3, 4)  # five pretraining runs per strategy


def test_without_enmap_layer_turns_the_enmap_branch_off(cfg):
    off = yaml.safe_load((ROOT / "config" / "without-enmap.yaml").read_text())
    merged = _merged(cfg, off)
    validate_config(merged)
    assert SpectmConfig.from_dict(merged).enmap.enabled is False
    assert SpectmConfig.from_dict(cfg).enmap.enabled is True


def test_validate_config_works_from_an_installed_wheel(tmp_path):
    """The schema and the defaults ship in the wheel: no path into the source tree."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("spectm-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "spectm/config/schema.yaml" in names and "spectm/config/config.yaml" in names
        zf.extractall(site)
    code = "import sys; from spectm.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code, "validate-config", str(site / "spectm/config/config.yaml")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_adaptation_names_come_from_the_experiment():
    from spectm.adapt.settings import METHODS, TASKS, AdaptConfig

    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["adapt"]["properties"]
    assert tuple(schema["methods"]["items"]["enum"]) == METHODS
    assert tuple(schema["tasks"]["items"]["enum"]) == TASKS
    section = read_config().adapt  # the typed view adds the job's device and threads
    cfg = AdaptConfig.from_dict({**section, "device": "cpu", "num_threads": 1}, name="adapt")
    assert cfg.methods == METHODS and cfg.decoder_channels == 256


def test_enmap_band_ranges_give_the_202_band_subset():
    from spectm.io.enmap_l2a import DEFAULT_BANDS

    enmap = read_config().enmap
    assert enmap.bands == list(DEFAULT_BANDS) and len(enmap.bands) == 202
    with pytest.raises(ValueError, match="overlap"):
        enmap.band_numbers([[1, 10], [5, 20]])
