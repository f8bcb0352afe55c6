"""The workflow configuration: load, validate (same schema as Snakemake, same errors), typed views.

``config.yaml`` and ``schema.yaml`` beside this module are package data: the first holds every
setting and its default (the repository's top-level ``config.yaml`` is a link to it), the second
their types and ranges. :func:`read_config` gives the typed sections
(:class:`~spectm.config.sections.SpectmConfig`).
"""

from __future__ import annotations

import datetime as dt
import math
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
    "check_config_values",
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
    """Validate ``config`` against the JSON schema, then :func:`check_config_values`.

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
    check_config_values(config)


def _non_finite(value: Any, key: str) -> str | None:
    """Dotted key path (list items as ``[i]``) of the first NaN or infinite number, else None."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _non_finite(v, f"{key}.{k}" if key else str(k))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{key}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, float) and not math.isfinite(value):
        return key
    return None


def _get(config: Mapping[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = value[part]
    return value


def _date(config: Mapping[str, Any], key: str) -> dt.date:
    text = str(_get(config, key))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"config key '{key}': {text!r} is not a calendar date; expected YYYY-MM-DD"
        ) from None


def _check_bbox(config: Mapping[str, Any], key: str) -> None:
    lon_min, lat_min, lon_max, lat_max = (float(v) for v in _get(config, key))
    if not (-180 <= lon_min < lon_max <= 180 and -90 <= lat_min < lat_max <= 90):
        raise ConfigError(
            f"config key '{key}': {list(_get(config, key))} is not a bounding box; expected "
            "[lon_min, lat_min, lon_max, lat_max] in degrees with -180 <= lon_min < lon_max "
            "<= 180 and -90 <= lat_min < lat_max <= 90"
        )


def check_config_values(config: Mapping[str, Any]) -> None:
    """Checks the schema cannot express, on a config that passed the schema.

    * every number is finite (YAML ``.nan``/``.inf`` pass JSON-schema bounds: NaN compares
      false with every limit, so ``max_cv: .nan`` would silently disable a test);
    * ``pace.start``/``pace.end`` and ``enmap.start``/``enmap.end`` are calendar dates with
      start <= end;
    * ``aoi_bbox`` and ``enmap.bbox`` are ordered boxes within the degree ranges;
    * each ``model.mask_windows_nm`` window has lo < hi;
    * ``enmap.band_ranges`` are ordered and do not overlap.

    Raises:
        ConfigError: naming the key (dotted path), the value and what was expected.

    """
    bad = _non_finite(dict(config), "")
    if bad is not None:
        raise ConfigError(
            f"config key '{bad}': {_get_any(config, bad)} is not a finite number; expected a "
            "finite value (NaN and infinity are not settings)"
        )
    for section in ("pace", "enmap"):
        start, end = _date(config, f"{section}.start"), _date(config, f"{section}.end")
        if start > end:
            raise ConfigError(
                f"config key '{section}.start': {start} is after {section}.end {end}; expected "
                "start <= end"
            )
    for key in ("aoi_bbox", "enmap.bbox"):
        _check_bbox(config, key)
    for k, (lo, hi) in enumerate(_get(config, "model.mask_windows_nm")):
        if not lo < hi:
            raise ConfigError(
                f"config key 'model.mask_windows_nm[{k}]': [{lo}, {hi}] is not a window; "
                "expected [lo_nm, hi_nm] with lo < hi"
            )
    try:
        EnmapConfig.band_numbers(_get(config, "enmap.band_ranges"))
    except ValueError as err:
        raise ConfigError(
            f"{err}; expected ordered [first, last] ranges that do not overlap"
        ) from None


def _get_any(config: Mapping[str, Any], key: str) -> Any:
    """The value at a key path of :func:`_non_finite` (``a.b[2]``)."""
    value: Any = config
    for part in key.replace("[", ".[").split("."):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def load_config(path: str | Path, schema_path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Read a YAML config file and validate it; errors name the file and the key."""
    from spectm.inputs import read_text  # pandas only when a file is read

    p = Path(path)
    what = "a YAML workflow configuration (see spectm/config/config.yaml)"
    try:
        text = read_text(p, what)
    except FileNotFoundError:
        raise
    except ValueError as exc:  # empty, UTF-16, binary, not UTF-8
        raise ConfigError(str(exc)) from None
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise ConfigError(f"{p}: not valid YAML: {first}") from exc
    if not isinstance(cfg, dict):
        found = "nothing" if cfg is None else type(cfg).__name__
        raise ConfigError(f"{p}: the top level is {found}; expected a mapping of config keys")
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
