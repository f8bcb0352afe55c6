"""``spectm <step>``: the workflow's steps outside Snakemake, one subcommand each.

Every subcommand calls the same package function as the corresponding rule's script. Options
that are settings of the workflow default to the configuration (``--config FILE``, by default
the package's ``config.yaml``), so the command line and the workflow never disagree; an option
given on the command line overrides that one setting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from spectm import __version__
from spectm.config import SpectmConfig, read_config
from spectm.logs import configure_logging

log = logging.getLogger("spectm.cli")

Handler = Callable[[argparse.Namespace, SpectmConfig], None]


# --------------------------------------------------------------------------- option types
# argparse calls these on the option's text; an ArgumentTypeError becomes one line
# "spectm <step>: error: argument --x: <message>" and exit status 2.


def _bbox(text: str) -> tuple[float, float, float, float]:
    """``lon_min,lat_min,lon_max,lat_max``: four finite degrees, ordered, within range."""
    expected = (
        "expected lon_min,lat_min,lon_max,lat_max in degrees with -180 <= lon_min < lon_max "
        "<= 180 and -90 <= lat_min < lat_max <= 90"
    )
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 4 numbers; {expected}") from None
    if len(parts) != 4 or not all(math.isfinite(v) for v in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not 4 finite numbers; {expected}")
    lon_min, lat_min, lon_max, lat_max = parts
    if not (-180 <= lon_min < lon_max <= 180 and -90 <= lat_min < lat_max <= 90):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ordered box; {expected}")
    return lon_min, lat_min, lon_max, lat_max


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer; expected an integer >= {low}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is too small; expected an integer >= {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; expected a finite number > 0"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected a finite number > 0")
    return value


def _date(text: str) -> str:
    """A calendar date written YYYY-MM-DD."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a calendar date; expected YYYY-MM-DD"
        ) from None


_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")


def _device(text: str) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (as config key ``device``)."""
    if not _DEVICE_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device; expected auto, cpu, mps, cuda or cuda:N"
        )
    return text


_POSITIVE_INT = _int_at_least(1)


def _given(value: Any, default: Any) -> Any:
    """The command-line value when given, else the configured one."""
    return default if value is None else value


def _cmd_samples(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.sources.glerl import write_samples

    write_samples(
        a.inputs, a.out, position_max_km=_given(a.position_max_km, cfg.samples.position_max_km)
    )


def _cmd_pace_search(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.sources.pace import write_granule_manifest

    p = cfg.pace
    start, end = _given(a.start, p.start), _given(a.end, p.end)
    if start > end:  # both YYYY-MM-DD: string order is date order
        given = {"start": "--start" if a.start else "config key pace.start"}
        given["end"] = "--end" if a.end else "config key pace.end"
        raise ValueError(
            f"pace-search: start {start} ({given['start']}) is after end {end} "
            f"({given['end']}); expected start <= end"
        )
    write_granule_manifest(
        a.out,
        source=_given(a.source, p.source),
        short_name=_given(a.short_name, p.short_name),
        version=_given(a.collection_version, p.version),
        provider=_given(a.provider, p.provider),
        start=start,
        end=end,
        bbox=_given(a.bbox, cfg.aoi_bbox),
        max_granules=_given(a.max_granules, p.demo.max_granules),
    )


def _cmd_pace_granule(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.sources.pace import fetch_granule

    p = cfg.pace
    fetch_granule(
        a.manifest,
        a.granule,
        a.out,
        source=_given(a.source, p.source),
        retries=_given(a.retries, p.download_retries),
        demo=p.demo,
    )


def _cmd_chip(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.io.pace_l2 import make_chip

    flags = a.exclude_flags.split(",") if a.exclude_flags else list(cfg.pace.exclude_flags)
    make_chip(
        a.granule,
        a.out,
        bbox=_given(a.bbox, cfg.aoi_bbox),
        exclude_flags=flags,
        stats_path=a.stats,
    )


def _cmd_quicklook(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.io.chips import PACE_SENSOR, chip_sensor, read_chip_file
    from spectm.report.quicklook import RGB_NM, true_colour_png

    chip = read_chip_file(a.chip)
    if chip_sensor(chip) != PACE_SENSOR:
        raise ValueError(
            f"{a.chip}: an {chip_sensor(chip)} chip; expected a PACE OCI chip (Rrs) to draw"
        )
    try:
        true_colour_png(chip, a.out)
    except ValueError as err:  # the chip lacks a display band
        raise ValueError(
            f"{a.chip}: {err}; expected bands near {', '.join(f'{w:g}' for w in RGB_NM)} nm"
        ) from None


def _cmd_resample(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.spectral.resample import write_resampled_table

    cov = write_resampled_table(
        a.input,
        a.out,
        target=_given(a.target, cfg.resample.target),
        version=_given(a.srf_version, cfg.resample.srf_version),
        method=a.method,
        wavelength_file=a.wavelength_file,
        sensor=a.sensor,
        rrs_to_reflectance=a.reflectance,
        scale=a.scale,
        standardise=a.standardise,
        coverage_path=a.coverage,
    )
    print(cov[["band", "coverage", "valid"]].to_string(index=False))


def _cmd_indices(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.spectral.indices import write_index_tables

    write_index_tables(a.input, a.out, a.bands, tolerance_nm=a.tolerance_nm)


def _cmd_predict(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.predict import predict_file

    predict_file(a.checkpoint, a.spectra, a.out, device=a.device)


def _cmd_pretrain(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.train.pretrain import PretrainConfig, pretrain

    model = replace(cfg.model, preset=_given(a.preset, cfg.model.preset))
    section = cfg.pretrain
    overrides = {"max_epochs": a.max_epochs, "batch_size": a.batch_size, "lr": a.lr}
    section = replace(section, **{k: v for k, v in overrides.items() if v is not None})
    pcfg = PretrainConfig.from_sections(
        model,
        section,
        strategy=a.strategy,
        seed=_given(a.seed, section.seeds[0]),
        device=_given(a.device, cfg.device),
    )
    print(pretrain(a.corpus, a.out_dir, pcfg))


def _cmd_enmap_chip(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    from spectm.io.enmap_chips import make_enmap_chips

    paths = make_enmap_chips(
        a.product_dir,
        a.out_dir,
        size=_given(a.size, cfg.enmap.chip_size),
        bands=cfg.enmap.bands,
        name=a.product,
        quality_layers=cfg.enmap.quality_layers,
    )
    print(f"wrote {len(paths)} chips to {a.out_dir}")


def _cmd_validate_config(a: argparse.Namespace, cfg: SpectmConfig) -> None:
    read_config(a.file)
    print(f"{a.file}: valid")


def _from_config(key: str) -> str:
    return f"(default: {key} in the config)"


def build_parser() -> argparse.ArgumentParser:
    """The ``spectm`` argument parser with one subparser per step."""
    p = argparse.ArgumentParser(
        prog="spectm",
        description="SpecTM workflow steps: PACE OCI + NOAA GLERL -> microcystin models. "
        "Settings not given on the command line come from the configuration file.",
    )
    p.add_argument("--version", action="version", version=f"spectm {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="workflow config (YAML) the defaults come from (default: the package's config.yaml)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="<step>")

    s = sub.add_parser("samples", help="harmonise GLERL CSVs (any era) into one Parquet table")
    s.add_argument("inputs", nargs="+", help="GLERL CSV files")
    s.add_argument("--out", required=True, help="output .parquet")
    s.add_argument(
        "--position-max-km",
        type=_positive_float,
        help=f"position QC threshold, km {_from_config('samples.position_max_km')}",
    )
    s.set_defaults(func=_cmd_samples)

    s = sub.add_parser("pace-search", help="write the PACE granule manifest (demo or earthdata)")
    s.add_argument("--out", required=True, help="manifest .csv")
    s.add_argument("--source", choices=["demo", "earthdata"], help=_from_config("pace.source"))
    s.add_argument("--short-name", help=_from_config("pace.short_name"))
    s.add_argument(
        "--version",
        dest="collection_version",
        help=f"collection version {_from_config('pace.version')}",
    )
    s.add_argument("--provider", help=_from_config("pace.provider"))
    s.add_argument("--start", type=_date, help=f"YYYY-MM-DD {_from_config('pace.start')}")
    s.add_argument("--end", type=_date, help=f"YYYY-MM-DD {_from_config('pace.end')}")
    s.add_argument(
        "--bbox", type=_bbox, help=f"lon_min,lat_min,lon_max,lat_max {_from_config('aoi_bbox')}"
    )
    s.add_argument(
        "--max-granules",
        type=_POSITIVE_INT,
        help=f"demo: first N granules {_from_config('pace.demo.max_granules')}",
    )
    s.set_defaults(func=_cmd_pace_search)

    s = sub.add_parser("pace-granule", help="download one granule or write its demo replay file")
    s.add_argument("--manifest", required=True)
    s.add_argument("--granule", required=True, help="file name as in the manifest")
    s.add_argument("--out", required=True)
    s.add_argument("--source", choices=["demo", "earthdata"], help=_from_config("pace.source"))
    s.add_argument("--retries", type=_POSITIVE_INT, help=_from_config("pace.download_retries"))
    s.set_defaults(func=_cmd_pace_granule)

    s = sub.add_parser("chip", help="AOI chip of one L2 AOP granule with l2_flags applied")
    s.add_argument("granule", help="PACE OCI L2 AOP NetCDF file")
    s.add_argument("--out", required=True, help="chip .nc")
    s.add_argument("--bbox", type=_bbox, help=_from_config("aoi_bbox"))
    s.add_argument(
        "--exclude-flags",
        default="",
        help=f"comma-separated l2_flags names {_from_config('pace.exclude_flags')}",
    )
    s.add_argument("--stats", default=None, help="flag statistics JSON")
    s.set_defaults(func=_cmd_chip)

    s = sub.add_parser("enmap-chip", help="cut the chips of one EnMAP L2A product")
    s.add_argument(
        "product_dir", help="directory with the product's files (…-SPECTRAL_IMAGE.TIF …)"
    )
    s.add_argument("--out-dir", required=True, help="directory for the chips (NetCDF)")
    s.add_argument(
        "--size",
        type=_int_at_least(16),
        help=f"chip edge, pixels {_from_config('enmap.chip_size')}",
    )
    s.add_argument("--product", default=None, help="product name when the directory holds several")
    s.set_defaults(func=_cmd_enmap_chip)

    s = sub.add_parser("quicklook", help="true-colour PNG of a chip")
    s.add_argument("chip")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_cmd_quicklook)

    s = sub.add_parser("resample", help="resample Rrs_<nm> spectra to Sentinel-2 B01..B12")
    s.add_argument("--in", dest="input", required=True, help="CSV/Parquet with Rrs_<nm> columns")
    s.add_argument("--out", required=True, help="output CSV with B01 ... B12")
    s.add_argument("--target", choices=["S2A", "S2B", "S2C"], help=_from_config("resample.target"))
    s.add_argument(
        "--srf-version", choices=["3.0", "4.0"], help=_from_config("resample.srf_version")
    )
    s.add_argument("--method", choices=["naive", "srf", "gaussian"], default="srf")
    s.add_argument(
        "--sensor",
        choices=["pace_oci", "enmap"],
        default=None,
        help="take band FWHM from this sensor's table (else from band spacing)",
    )
    s.add_argument(
        "--wavelength-file",
        default=None,
        help="CSV with wavelength_nm (and fwhm_nm) when columns are band numbers",
    )
    s.add_argument("--reflectance", action="store_true", help="multiply Rrs by pi first")
    s.add_argument("--scale", type=_positive_float, default=1.0, help="e.g. 10000 for TerraMind")
    s.add_argument("--standardise", action="store_true", help="TerraMind S2L2A mean/std")
    s.add_argument("--coverage", default=None, help="write the per-band coverage CSV here")
    s.set_defaults(func=_cmd_resample)

    s = sub.add_parser("indices", help="bio-optical indices of Rrs_<nm> spectra")
    s.add_argument("--in", dest="input", required=True, help="CSV/Parquet with Rrs_<nm> columns")
    s.add_argument("--out", required=True, help="output CSV, one column per index")
    s.add_argument("--bands", required=True, help="output CSV: the band each index used")
    s.add_argument("--tolerance-nm", type=_positive_float, default=3.0)
    s.set_defaults(func=_cmd_indices)

    s = sub.add_parser("pretrain", help="pretrain SpecTM on a corpus (resumes after a kill)")
    s.add_argument("corpus", help="corpus Parquet (rule corpus)")
    s.add_argument("--out-dir", required=True, help="writes model.pt, losses.csv, config.json")
    s.add_argument("--strategy", choices=["targeted", "random", "none"], default="targeted")
    s.add_argument(
        "--preset", choices=["tiny", "small", "paper"], help=_from_config("model.preset")
    )
    s.add_argument("--max-epochs", type=_POSITIVE_INT, help=_from_config("pretrain.max_epochs"))
    s.add_argument("--batch-size", type=_POSITIVE_INT, help=_from_config("pretrain.batch_size"))
    s.add_argument("--lr", type=_positive_float, help=_from_config("pretrain.lr"))
    s.add_argument(
        "--device", type=_device, help=f"auto, cpu, cuda or mps {_from_config('device')}"
    )
    s.add_argument(
        "--seed",
        type=_int_at_least(0),
        help="(default: the first of pretrain.seeds in the config)",
    )
    s.set_defaults(func=_cmd_pretrain)

    s = sub.add_parser(
        "predict", help="predict microcystin for Rrs_<nm> spectra at any wavelengths"
    )
    s.add_argument("--checkpoint", required=True, help="deployable model (.pt)")
    s.add_argument("--spectra", required=True, help="CSV/Parquet with Rrs_<nm> columns")
    s.add_argument("--out", required=True, help="output CSV with microcystin_ugL and interval")
    s.add_argument("--device", type=_device, default="cpu")
    s.set_defaults(func=_cmd_predict)

    s = sub.add_parser("validate-config", help="validate a workflow config file")
    s.add_argument("file")
    s.set_defaults(func=_cmd_validate_config)
    return p


_NEGATIVE_LIST = re.compile(r"^-[\d.][\d.eE+-]*(,[^,]*)+$")


def _attach_negative_lists(argv: Sequence[str]) -> list[str]:
    """``--bbox -83.5,41.3,...`` -> ``--bbox=-83.5,41.3,...``.

    argparse takes a token starting with ``-`` for an option unless it is a single negative
    number, so a western-hemisphere box given as the next token would be refused as "expected one
    argument"; attached with ``=`` it reaches the option's type check.
    """
    args, out, i = list(argv), [], 0
    while i < len(args):
        token = args[i]
        if (
            i + 1 < len(args)
            and token.startswith("--")
            and "=" not in token
            and _NEGATIVE_LIST.match(args[i + 1])
        ):
            out.append(f"{token}={args[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spectm`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(_attach_negative_lists(sys.argv[1:] if argv is None else argv))
    configure_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    try:
        cfg = read_config(args.config)
        args.func(args, cfg)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        # a KeyError's str() is the repr of its key: log the message itself
        one = isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str)
        log.error("%s", exc.args[0] if one else exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
