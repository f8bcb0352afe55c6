"""The workflow configuration: load, validate (same schema as Snakemake, same errors), typed views.

``config.yaml`` and ``schema.yaml`` beside this module are package data: the first holds every
setting and its default (the repository's top-level ``config.yaml`` is a link to it), the second
their types and ranges. :func:`read_config` gives the typed sections
(:class:`~spectm.config.sections.SpectmConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from spectm.config.sections import (
    AuxConfig,
    BaselinesConfig,
    DatasetsConfig,
    DeployConfig,
    EnmapConfig,
    EnmapDemoConfig,
    EvaluationConfig,
    FinetuneConfig,
    MapsConfig,
    MatchupConfig,
    ModelConfig,
    PaceConfig,
    PaceDemoConfig,
    PairsConfig,
    PretrainSection,
    ResampleConfig,
    SamplesConfig,
    SpectmConfig,
)

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"
"""The JSON schema (YAML) of the configuration."""
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "config.yaml"
"""The default configuration: every key, commented."""

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "SCHEMA_PATH",
    "AuxConfig",
    "BaselinesConfig",
    "ConfigError",
    "DatasetsConfig",
    "DeployConfig",
    "EnmapConfig",
    "EnmapDemoConfig",
    "EvaluationConfig",
    "FinetuneConfig",
    "MapsConfig",
    "MatchupConfig",
    "ModelConfig",
    "PaceConfig",
    "PaceDemoConfig",
    "PairsConfig",
    "PretrainSection",
    "ResampleConfig",
    "SamplesConfig",
    "SpectmConfig",
    "load_config",
    "read_config",
    "validate_config",
]


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names the key."""


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        return ".".join([*parts, extra[0]]) if extra else ".".join(parts)
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [k for k in error.validator_value if k not in error.instance]
        return ".".join([*parts, missing[0]]) if missing else ".".join(parts)
    return ".".join(parts) or "<root>"


def validate_config(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> None:
    """Validate ``config`` against the JSON schema.

    Raises:
        ConfigError: naming the offending key (dotted path) and what is wrong with it.
    """
    schema = yaml.safe_load(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key = _key_path(e)
        if e.validator == "additionalProperties":
            msg = f"unknown config key '{key}'"
        elif e.validator == "required":
            msg = f"missing config key '{key}'"
        else:
            msg = f"config key '{key}': {e.message}"
        raise ConfigError(msg)


def load_config(path: str | Path, schema_path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Read a YAML config file and validate it; errors name the file and the key."""
    p = Path(path)
    try:
        cfg = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ConfigError(f"{p}: top level must be a mapping")
    try:
        validate_config(cfg, schema_path)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc
    return cfg


def read_config(path: str | Path | None = None) -> SpectmConfig:
    """Typed sections of a config file (None: the package's default ``config.yaml``).

    Raises:
        ConfigError: naming the file and the key when it is not a valid configuration.

    """
    return SpectmConfig.from_dict(load_config(DEFAULT_CONFIG_PATH if path is None else path))
