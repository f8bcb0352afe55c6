"""Bad input, all of it answered (issue 11): a corpus of malformed inputs through ``spectm``.

Each case builds its malformed input in ``tmp_path`` (small functions below; no binary blobs in
the repository) and runs it through :func:`spectm.cli.main`. A refused input must give a non-zero
exit status, exactly one error line (a log record, or argparse's ``error:`` line) naming the file
and the line/row/column or config key and what was expected, no traceback, and no output file.
Where dropping is the right answer (a GLERL sample value that is impossible), the run succeeds
and the exclusion is recorded with its reason (``qc_excluded``), never silently.

The property-based tests at the end check the GLERL cell parser and the Sentinel-2 resampler on
generated inputs (hypothesis).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectm.cli import main
from spectm.config import DEFAULT_CONFIG_PATH
from spectm.data_files import data_path
from spectm.io.corpus import write_corpus
from spectm.model.pretrained import DEPLOYABLE_FORMAT
from spectm.sources.enmap.demo import demo_product_name, write_demo_product
from spectm.sources.glerl.cells import MISSING_CODES, parse_measured
from spectm.sources.pace import demo_manifest
from spectm.sources.pace.replay import write_demo_granule
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.spectral.grids import paper_grid
from spectm.spectral.resample import build_resampler
from spectm.tables import rrs_columns
from tests.conftest import chip_dataset, grid_lat_lon, turbid_spectra

NATIVE = pace_oci_rrs_wavelengths()
GRANULE = "PACE_OCI.20240616T172214.L2.OC_AOP.V3_0.nc"
GLERL_2025 = data_path("glerl", "2025_WLE_Weekly_Datashare_CSV.csv")
LOG_RECORD = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ \S+: ")

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# --------------------------------------------------------------------------- shared inputs


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    """One demo L2 granule and one demo EnMAP L2A product, copied by the cases that break them."""
    root = tmp_path_factory.mktemp("pristine")
    granule = write_demo_granule(
        GRANULE, root, shape=(48, 44), pixel_km=3.0, seed=1, cloud_fraction=0.15
    )
    name = demo_product_name(pd.Timestamp("2024-07-02T16:30:00Z"), 1)
    product = write_demo_product(
        name, root / "enmap", shape=(32, 32), seed=1, cloud_fraction=0.0,
        centre_lonlat=(-83.2, 41.7), time_start="2024-07-02T16:30:00Z",
    )  # fmt: skip
    return {"granule": Path(granule), "enmap": Path(product)}


@dataclass
class Kit:
    """What a case builder gets: its own directory and the pristine inputs to copy."""

    tmp: Path
    pristine: dict[str, Path]

    @property
    def out(self) -> Path:
        """Where every case writes its output (must stay absent after a refusal)."""
        return self.tmp / "out"

    def granule(self) -> Path:
        dest = self.tmp / GRANULE
        shutil.copy(self.pristine["granule"], dest)
        return dest

    def enmap(self) -> Path:
        dest = self.tmp / "product"
        shutil.copytree(self.pristine["enmap"], dest)
        return dest


def glerl_rows() -> list[list[str]]:
    """Header + 3 data rows of the real 2025 GLERL datashare file, as lists of cells."""
    lines = GLERL_2025.read_text(encoding="utf-8").splitlines()[:4]
    return [line.split(",") for line in lines]


def glerl_csv(kit: Kit, name: str, edit: Callable[[list[list[str]]], None] | None = None) -> Path:
    """Write the 4-line GLERL file, after ``edit(rows)`` changed its cells, to ``tmp/name``."""
    rows = glerl_rows()
    if edit is not None:
        edit(rows)
    path = kit.tmp / name
    path.write_text("\r\n".join(",".join(r) for r in rows) + "\r\n", encoding="utf-8")
    return path


def set_cell(column: str, data_row: int, value: str) -> Callable[[list[list[str]]], None]:
    """An edit putting ``value`` in ``column`` of 1-based ``data_row``."""

    def edit(rows: list[list[str]]) -> None:
        rows[data_row][rows[0].index(column)] = value

    return edit


def samples(kit: Kit, path: Path) -> list[str]:
    return ["samples", str(path), "--out", str(kit.out / "samples.parquet")]


def spectra_frame(n: int = 3, wl: np.ndarray = NATIVE) -> pd.DataFrame:
    rrs = turbid_spectra(np.random.default_rng(0).uniform(0, 1, (n, 3)), wl)
    table = pd.DataFrame(rrs, columns=rrs_columns(wl))
    table.insert(0, "row_id", [f"r{i}" for i in range(n)])
    return table


def spectra_csv(
    kit: Kit, name: str = "spectra.csv", edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> Path:
    table = spectra_frame()
    if edit is not None:
        table = edit(table)
    path = kit.tmp / name
    table.to_csv(path, index=False)
    return path


def text_cell(column: str, row: int, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table = table.astype({column: object})
        table.loc[row, column] = value
        return table

    return edit


def micrometres(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns={c: f"Rrs_{float(c[4:]) / 1000:g}" for c in table if "Rrs_" in c})


def resample(kit: Kit, path: Path, *extra: str) -> list[str]:
    return ["resample", "--in", str(path), "--out", str(kit.out / "s2.csv"), *extra]


def indices(kit: Kit, path: Path, *extra: str) -> list[str]:
    out = ["--out", str(kit.out / "idx.csv"), "--bands", str(kit.out / "bands.csv")]
    return ["indices", "--in", str(path), *out, *extra]


def write_bytes(kit: Kit, name: str, data: bytes) -> Path:
    path = kit.tmp / name
    path.write_bytes(data)
    return path


def cut_mid_row(data: bytes, line: int) -> bytes:
    """The file up to the middle of 1-based ``line`` (a download or copy that stopped there)."""
    starts = [0, *(i + 1 for i, b in enumerate(data) if b == ord("\n"))]
    return data[: (starts[line - 1] + starts[line]) // 2]


def utf16(text: str, codec: str = "utf-16") -> bytes:
    return text.encode(codec)


PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


# --------------------------------------------------------------------------- chips and granules


def chip(kit: Kit, granule: Path, *extra: str) -> list[str]:
    return ["chip", str(granule), "--out", str(kit.out / "chip.nc"), *extra]


def edit_granule(kit: Kit, change: Callable[[h5py.File], None]) -> Path:
    path = kit.granule()
    with h5py.File(path, "r+") as f:
        change(f)
    return path


def drop_packing(f: h5py.File) -> None:
    for attr in ("scale_factor", "add_offset"):
        del f["geophysical_data/Rrs"].attrs[attr]


def unit_packing(f: h5py.File) -> None:
    f["geophysical_data/Rrs"].attrs["scale_factor"] = np.float32(1.0)
    f["geophysical_data/Rrs"].attrs["add_offset"] = np.float32(0.0)


def scale_wavelengths(factor: float) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        wl = f["sensor_band_parameters/wavelength_3d"]
        wl[...] = wl[...] * factor

    return change


def repeat_wavelength(f: h5py.File) -> None:
    wl = f["sensor_band_parameters/wavelength_3d"]
    values = wl[...]
    values[5] = values[4]
    wl[...] = values


def rrs_units(f: h5py.File) -> None:
    f["geophysical_data/Rrs"].attrs["units"] = "1"


def chip_file(kit: Kit, name: str, **change: object) -> Path:
    """A chip file written without the contract check, with ``change`` applied."""
    lat, lon = grid_lat_lon(4, 5)
    wl = np.asarray(change.get("wavelength", NATIVE), dtype=float)
    rrs = turbid_spectra(np.random.default_rng(1).uniform(0, 1, (20, 3)), wl).reshape(4, 5, -1)
    rrs = rrs * float(change.get("factor", 1.0))  # type: ignore[arg-type]
    ds = chip_dataset(rrs, lat, lon, wl, pd.Timestamp("2024-07-01T18:00Z"))
    path = kit.tmp / name
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def quicklook(kit: Kit, path: Path) -> list[str]:
    return ["quicklook", str(path), "--out", str(kit.out / "q.png")]


def not_a_chip(kit: Kit) -> Path:
    import xarray as xr

    path = kit.tmp / "other.nc"
    xr.Dataset({"foo": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    return path


# --------------------------------------------------------------------------- models


class Evil:
    """A pickle that would create a marker file (stand-in for os.system('rm -rf ...'))."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def model_file(kit: Kit, write: Callable[[Path], None]) -> Path:
    path = kit.tmp / "model.pt"
    write(path)
    return path


def truncated_torch(path: Path) -> None:
    torch.save({"format": DEPLOYABLE_FORMAT, "model": {"w": torch.zeros(1000)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def predict(kit: Kit, checkpoint: Path, spectra: Path | None = None, *extra: str) -> list[str]:
    spectra = spectra or spectra_csv(kit)
    out = ["--out", str(kit.out / "pred.csv")]
    return ["predict", "--checkpoint", str(checkpoint), "--spectra", str(spectra), *out, *extra]


def no_model(kit: Kit) -> Path:
    """A checkpoint path that must never be reached (the spectra are refused first)."""
    return kit.tmp / "never-read.pt"


def tiny_corpus(kit: Kit) -> Path:
    grid = paper_grid()
    n = 40
    rng = np.random.default_rng(2)
    rrs = turbid_spectra(rng.uniform(0, 1, (n, 3)), grid)
    table = pd.DataFrame(
        {
            "granule": "g",
            "time_utc": pd.Timestamp("2024-07-01T18:00Z") + pd.to_timedelta(np.arange(n), "D"),
            "lat": 41.7,
            "lon": -83.2,
            "split": np.where(np.arange(n) < 30, "train", "val"),
            "source": "chip",
        }
    )
    spectra = pd.DataFrame(rrs.astype(np.float32), columns=rrs_columns(grid))
    future = pd.DataFrame(np.nan, index=range(n), columns=rrs_columns(grid, "future_Rrs_"))
    corpus = pd.concat([table, spectra, future], axis=1)
    corpus.attrs["grid"] = "paper"
    return write_corpus(corpus, kit.tmp / "corpus.parquet")


def pretrain(kit: Kit, corpus: Path, *extra: str) -> list[str]:
    return ["pretrain", str(corpus), "--out-dir", str(kit.out), "--max-epochs", "1", *extra]


def garbage_checkpoint(kit: Kit) -> list[str]:
    corpus = tiny_corpus(kit)
    kit.out.mkdir()
    (kit.out / "checkpoint.pt").write_text("not a checkpoint\n")
    return pretrain(kit, corpus, "--preset", "tiny", "--device", "cpu")


# --------------------------------------------------------------------------- config files


def config_file(kit: Kit, change: Callable[[dict], None]) -> Path:
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    change(cfg)
    path = kit.tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def put(key: str, value: object) -> Callable[[dict], None]:
    def change(cfg: dict) -> None:
        *parents, last = key.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def puts(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(cfg: dict) -> None:
        for c in changes:
            c(cfg)

    return change


def validate(kit: Kit, change: Callable[[dict], None]) -> list[str]:
    return ["validate-config", str(config_file(kit, change))]


def manifest(kit: Kit) -> Path:
    path = kit.tmp / "manifest.csv"
    demo_manifest("2024-06-16", "2024-06-16").to_csv(path, index=False)
    return path


def pace_granule(kit: Kit, manifest_path: Path, *extra: str, granule: str = GRANULE) -> list[str]:
    out = ["--out", str(kit.out)]
    return ["pace-granule", "--manifest", str(manifest_path), "--granule", granule, *out, *extra]


def pace_search(kit: Kit, *extra: str) -> list[str]:
    return ["pace-search", "--out", str(kit.out / "manifest.csv"), *extra]


# --------------------------------------------------------------------------- EnMAP products


def enmap_xml(kit: Kit, change: Callable[[str], str]) -> Path:
    product = kit.enmap()
    xml = next(product.glob("*-METADATA.XML"))
    xml.write_text(change(xml.read_text()))
    return product


def scale_centres(text: str) -> str:
    return re.sub(
        r"<wavelengthCenterOfBand>([\d.]+)</wavelengthCenterOfBand>",
        lambda m: (
            f"<wavelengthCenterOfBand>{float(m.group(1)) / 1000:.6f}</wavelengthCenterOfBand>"
        ),
        text,
    )


def replace_first(tag: str, value: str) -> Callable[[str], str]:
    return lambda text: re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", text, count=1)


def enmap_file(kit: Kit, kind: str, data: bytes | None) -> Path:
    product = kit.enmap()
    target = next(product.glob(f"*-{kind}"))
    if data is None:
        target.unlink()
    else:
        target.write_bytes(data)
    return product


def enmap_chip(kit: Kit, product: Path, *extra: str) -> list[str]:
    return ["enmap-chip", str(product), "--out-dir", str(kit.out), "--size", "16", *extra]


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Refused:
    """A malformed input that must be refused.

    Attributes:
        build: Writes the input under ``kit.tmp`` and returns the ``spectm`` arguments.
        expect: Substrings of the one error line (file, line/row/column or key, expectation).
        code: Exit status: 1 (the step refused it) or 2 (argparse refused an option).
    """

    build: Callable[[Kit], list[str]]
    expect: tuple[str, ...]
    code: int = 1


def r(build: Callable[[Kit], list[str]], *expect: str, code: int = 1) -> Refused:
    return Refused(build, expect, code)


H28 = "expected 28 as in the header"
REFUSED: dict[str, Refused] = {
    # ---- GLERL sample CSVs (spectm samples)
    "samples-empty-file": r(
        lambda k: samples(k, write_bytes(k, "empty.csv", b"")),
        "empty.csv",
        "empty (0 bytes)",
        "expected a GLERL sample CSV",
    ),
    "samples-blank-lines-only": r(
        lambda k: samples(k, write_bytes(k, "blank.csv", b"\r\n  \r\n\r\n")),
        "blank.csv",
        "only white space",
        "expected a GLERL sample CSV",
    ),
    "samples-utf16-with-bom": r(
        lambda k: samples(k, write_bytes(k, "u16.csv", utf16(GLERL_2025.read_text()[:2000]))),
        "u16.csv",
        "UTF-16",
        "expected a GLERL sample CSV, as UTF-8 text",
    ),
    "samples-utf16-without-bom": r(
        lambda k: samples(
            k, write_bytes(k, "u16le.csv", utf16(GLERL_2025.read_text()[:2000], "utf-16-le"))
        ),
        "u16le.csv",
        "looks UTF-16",
        "expected a GLERL sample CSV, as UTF-8 text",
    ),
    "samples-binary-file": r(
        lambda k: samples(k, write_bytes(k, "image.csv", PNG_BYTES)),
        "image.csv",
        "not a text file",
        "expected a GLERL sample CSV",
    ),
    "samples-row-cut-mid-row": r(
        lambda k: samples(k, write_bytes(k, "cut.csv", cut_mid_row(GLERL_2025.read_bytes(), 12))),
        "cut.csv",
        "line 12: ",
        "fields",
        H28,
        "cut short",
    ),
    "samples-extra-field": r(
        lambda k: samples(k, glerl_csv(k, "extra.csv", lambda rows: rows[2].append("7"))),
        "extra.csv",
        "line 3: 29 fields",
        H28,
    ),
    "samples-short-last-row": r(
        lambda k: samples(
            k, glerl_csv(k, "short.csv", lambda rows: rows.__setitem__(3, rows[3][:11]))
        ),
        "short.csv",
        "line 4: 11 fields",
        H28,
        "cut short",
    ),
    "samples-text-in-microcystin": r(
        lambda k: samples(
            k, glerl_csv(k, "text.csv", set_cell("Particulate_Microcystin_ugL-1", 2, "abc"))
        ),
        "text.csv",
        "data row 2 (file line 3)",
        "'Particulate_Microcystin_ugL-1'",
        "'abc'",
        "as a number, '<limit', bdl, nd or ns",
    ),
    "samples-text-in-latitude": r(
        lambda k: samples(k, glerl_csv(k, "lat_text.csv", set_cell("Lat_deg", 1, "north"))),
        "lat_text.csv",
        "data row 1",
        "'Lat_deg'",
        "'north'",
        "as a number",
    ),
    "samples-infinite-chla": r(
        lambda k: samples(k, glerl_csv(k, "inf.csv", set_cell("Extracted_CHLa_ugL-1", 3, "inf"))),
        "inf.csv",
        "data row 3",
        "'Extracted_CHLa_ugL-1'",
        "'inf'",
        "as a number",
    ),
    "samples-latitude-95": r(
        lambda k: samples(k, glerl_csv(k, "lat95.csv", set_cell("Lat_deg", 1, "95"))),
        "lat95.csv",
        "data row 1 (file line 2)",
        "'Lat_deg'",
        "'95' is outside [-90, 90]",
        "expected a latitude in decimal degrees",
    ),
    "samples-longitude-200": r(
        lambda k: samples(k, glerl_csv(k, "lon200.csv", set_cell("Long_deg", 3, "200"))),
        "lon200.csv",
        "data row 3 (file line 4)",
        "'Long_deg'",
        "'200' is outside [-180, 180]",
        "expected a longitude",
    ),
    "samples-negative-sample-depth": r(
        lambda k: samples(k, glerl_csv(k, "depth.csv", set_cell("Sample_Depth_m", 1, "-2"))),
        "depth.csv",
        "data row 1",
        "'Sample_Depth_m'",
        "'-2'",
        "expected a depth in metres >= 0",
    ),
    "samples-impossible-date": r(
        lambda k: samples(k, glerl_csv(k, "date.csv", set_cell("Date", 2, "2/30/25"))),
        "date.csv",
        "data row 2",
        "'Date'",
        "'2/30/25'",
        "as a date",
    ),
    "samples-clock-25h": r(
        lambda k: samples(k, glerl_csv(k, "clock.csv", set_cell("Arrival_Time", 1, "25:10"))),
        "clock.csv",
        "data row 1",
        "'Arrival_Time'",
        "'25:10'",
        "clock time",
    ),
    "samples-censored-garbage": r(
        lambda k: samples(
            k, glerl_csv(k, "cens.csv", set_cell("Particulate_Microcystin_ugL-1", 1, "<abc"))
        ),
        "cens.csv",
        "data row 1",
        "'<abc'",
        "'<limit'",
    ),
    "samples-unknown-layout": r(
        lambda k: samples(k, write_bytes(k, "other.csv", b"a,b,c\r\n1,2,3\r\n")),
        "other.csv",
        "does not match any GLERL column era",
    ),
    "samples-missing-required-column": r(
        lambda k: samples(k, glerl_csv(k, "nolat.csv", lambda rows: [row.pop(7) for row in rows])),
        "nolat.csv",
        "missing required column(s) ['Lat_deg']",
    ),
    "samples-a-directory": r(
        lambda k: samples(k, k.tmp),
        "is a directory",
        "expected a GLERL sample CSV",
    ),
    "samples-missing-file": r(
        lambda k: samples(k, k.tmp / "nope.csv"),
        "nope.csv",
        "no such file",
    ),
    "samples-position-max-km-negative": r(
        lambda k: [*samples(k, GLERL_2025), "--position-max-km", "-1"],
        "--position-max-km",
        "expected a finite number > 0",
        code=2,
    ),
    "samples-position-max-km-nan": r(
        lambda k: [*samples(k, GLERL_2025), "--position-max-km", "nan"],
        "--position-max-km",
        "'nan'",
        "expected a finite number > 0",
        code=2,
    ),
    # ---- spectra tables (spectm resample / indices / predict)
    "resample-empty-file": r(
        lambda k: resample(k, write_bytes(k, "empty.csv", b"")),
        "empty.csv",
        "empty (0 bytes)",
        "expected a table of Rrs_<nm> spectra",
    ),
    "resample-no-rrs-columns": r(
        lambda k: resample(k, write_bytes(k, "plain.csv", b"a,b\n1,2\n")),
        "plain.csv",
        "no 'Rrs_<nm>' spectral columns",
        "expected a table of Rrs_<nm> spectra",
    ),
    "resample-text-cell": r(
        lambda k: resample(k, spectra_csv(k, "text.csv", text_cell("Rrs_560", 1, "abc"))),
        "text.csv",
        "data row 2 (file line 3)",
        "'Rrs_560'",
        "'abc' is not a number",
        "expected Rrs in sr-1",
    ),
    "resample-micrometres": r(
        lambda k: resample(k, spectra_csv(k, "um.csv", micrometres)),
        "um.csv",
        "columns Rrs_<nm>",
        "look like micrometres",
        "expected nanometres",
    ),
    "resample-duplicate-wavelength": r(
        lambda k: resample(
            k, spectra_csv(k, "dup.csv", lambda t: t.assign(**{"Rrs_560.0": t["Rrs_560"]}))
        ),
        "dup.csv",
        "duplicate wavelength 560 nm (Rrs_560, Rrs_560.0)",
        "one band per wavelength",
    ),
    "resample-reflectance-x10000": r(
        lambda k: resample(
            k,
            spectra_csv(
                k, "x1e4.csv", lambda t: t.assign(**{c: t[c] * 1e4 for c in t if "Rrs_" in c})
            ),
        ),
        "x1e4.csv",
        "data row 1 (file line 2)",
        "column Rrs_",
        "|Rrs| <= 1/pi",
    ),
    "resample-infinite-rrs": r(
        lambda k: resample(k, spectra_csv(k, "inf.csv", text_cell("Rrs_442", 2, "inf"))),
        "inf.csv",
        "data row 3",
        "column Rrs_442 = inf",
        "|Rrs| <= 1/pi",
    ),
    "resample-utf16": r(
        lambda k: resample(
            k, write_bytes(k, "u16.csv", utf16(spectra_frame().to_csv(index=False)))
        ),
        "u16.csv",
        "UTF-16",
        "expected a table of Rrs_<nm> spectra",
    ),
    "resample-row-cut-mid-row": r(
        lambda k: resample(
            k,
            write_bytes(k, "cut.csv", cut_mid_row(spectra_frame().to_csv(index=False).encode(), 4)),
        ),
        "cut.csv",
        "line 4:",
        "fields, expected 173 as in the header",
    ),
    "resample-text-as-parquet": r(
        lambda k: resample(k, write_bytes(k, "fake.parquet", b"row_id,Rrs_560\nr0,0.01\n")),
        "fake.parquet",
        "not a readable Parquet file",
        "expected a table of Rrs_<nm> spectra",
    ),
    "resample-wavelength-file-micrometres": r(
        lambda k: resample(
            k,
            write_bytes(k, "bands.csv", b"1,2,3\n0.01,0.02,0.015\n"),
            "--wavelength-file",
            str(write_bytes(k, "wl.csv", b"wavelength_nm\n0.49\n0.56\n0.665\n")),
        ),
        "wl.csv",
        "column wavelength_nm",
        "look like micrometres",
        "expected nanometres",
    ),
    "resample-wavelength-file-text": r(
        lambda k: resample(
            k,
            write_bytes(k, "bands.csv", b"1,2,3\n0.01,0.02,0.015\n"),
            "--wavelength-file",
            str(write_bytes(k, "wl.csv", b"band,wavelength_nm\n1,490\n2,abc\n3,665\n")),
        ),
        "wl.csv",
        "data row 2 (file line 3)",
        "'wavelength_nm'",
        "'abc'",
        "a number of nm",
    ),
    "resample-wavelength-file-zero-fwhm": r(
        lambda k: resample(
            k,
            write_bytes(k, "bands.csv", b"1,2,3\n0.01,0.02,0.015\n"),
            "--wavelength-file",
            str(write_bytes(k, "wl.csv", b"wavelength_nm,fwhm_nm\n490,10\n560,0\n665,10\n")),
        ),
        "wl.csv",
        "fwhm_nm of band 2 is 0",
        "expected a FWHM > 0 nm",
    ),
    "resample-not-the-sensors-bands": r(
        lambda k: resample(
            k,
            spectra_csv(k, "shift.csv", lambda t: t.rename(columns={"Rrs_560": "Rrs_561.3"})),
            "--sensor",
            "pace_oci",
        ),
        "shift.csv",
        "[561.3] nm are not pace_oci bands",
        "expected the pace_oci band centres",
    ),
    "resample-scale-zero": r(
        lambda k: resample(k, spectra_csv(k), "--scale", "0"),
        "--scale",
        "expected a finite number > 0",
        code=2,
    ),
    "indices-empty-file": r(
        lambda k: indices(k, write_bytes(k, "empty.csv", b"\n")),
        "empty.csv",
        "only white space",
        "expected a table of Rrs_<nm> spectra",
    ),
    "indices-text-cell": r(
        lambda k: indices(k, spectra_csv(k, "text.csv", text_cell("Rrs_665", 0, "n.d."))),
        "text.csv",
        "data row 1 (file line 2)",
        "'Rrs_665'",
        "'n.d.' is not a number",
    ),
    "indices-micrometres": r(
        lambda k: indices(k, spectra_csv(k, "um.csv", micrometres)),
        "um.csv",
        "look like micrometres",
        "expected nanometres",
    ),
    "indices-binary-file": r(
        lambda k: indices(k, write_bytes(k, "image.csv", PNG_BYTES)),
        "image.csv",
        "not a text file (NUL byte",
        "expected a table of Rrs_<nm> spectra",
    ),
    "indices-tolerance-negative": r(
        lambda k: indices(k, spectra_csv(k), "--tolerance-nm", "-3"),
        "--tolerance-nm",
        "expected a finite number > 0",
        code=2,
    ),
    # ---- PACE L2 granules (spectm chip)
    "chip-not-netcdf": r(
        lambda k: chip(k, write_bytes(k, GRANULE, b"<html>404 Not Found</html>\n")),
        GRANULE,
        "not a readable NetCDF-4 file",
        "truncated or corrupt",
    ),
    "chip-empty-file": r(
        lambda k: chip(k, write_bytes(k, GRANULE, b"")),
        GRANULE,
        "(0 bytes;",
    ),
    "chip-truncated-granule": r(
        lambda k: chip(k, write_bytes(k, GRANULE, k.pristine["granule"].read_bytes()[:40000])),
        GRANULE,
        "not a readable NetCDF-4 file (40000 bytes",
    ),
    "chip-rrs-without-scale-factor": r(
        lambda k: chip(k, edit_granule(k, drop_packing)),
        GRANULE,
        "geophysical_data/Rrs is stored as int16 without scale_factor/add_offset",
        "expected CF packing attributes",
    ),
    "chip-rrs-beyond-physical-limit": r(
        lambda k: chip(k, edit_granule(k, unit_packing)),
        GRANULE,
        "geophysical_data/Rrs: line",
        "|Rrs| <= 1/pi",
    ),
    "chip-rrs-units": r(
        lambda k: chip(k, edit_granule(k, rrs_units)),
        GRANULE,
        "geophysical_data/Rrs has units '1'",
        "expected sr^-1",
    ),
    "chip-wavelengths-in-micrometres": r(
        lambda k: chip(k, edit_granule(k, scale_wavelengths(1e-3))),
        GRANULE,
        "sensor_band_parameters/wavelength_3d",
        "look like micrometres",
        "expected nanometres",
    ),
    "chip-wavelength-repeated": r(
        lambda k: chip(k, edit_granule(k, repeat_wavelength)),
        GRANULE,
        "wavelength_3d: wavelength repeats at positions 4 and 5",
        "expected strictly increasing",
    ),
    "chip-bbox-inverted": r(
        lambda k: chip(k, k.granule(), "--bbox", "-82.45,41.3,-83.5,42.2"),
        "--bbox",
        "not an ordered box",
        "-180 <= lon_min < lon_max <= 180",
        code=2,
    ),
    "chip-bbox-latitude-95": r(
        lambda k: chip(k, k.granule(), "--bbox", "-83.5,41.3,-82.45,95"),
        "--bbox",
        "not an ordered box",
        "-90 <= lat_min < lat_max <= 90",
        code=2,
    ),
    "chip-bbox-text": r(
        lambda k: chip(k, k.granule(), "--bbox", "west,41,-82,42"),
        "--bbox",
        "is not 4 numbers",
        code=2,
    ),
    "chip-unknown-flag": r(
        lambda k: chip(k, k.granule(), "--exclude-flags", "LAND,CLOUDY"),
        GRANULE,
        "unknown l2_flags name 'CLOUDY'",
        "known:",
    ),
    "chip-bbox-misses-granule": r(
        lambda k: chip(k, k.granule(), "--bbox", "10,10,11,11"),
        GRANULE,
        "does not intersect bbox",
    ),
    # ---- chips (spectm quicklook)
    "quicklook-not-netcdf": r(
        lambda k: quicklook(k, write_bytes(k, "chip.nc", b"just text\n")),
        "chip.nc",
        "not a readable NetCDF-4 chip",
    ),
    "quicklook-not-a-chip": r(
        lambda k: quicklook(k, not_a_chip(k)),
        "other.nc",
        "not a valid chip",
        "variable 'Rrs' is missing",
    ),
    "quicklook-chip-in-micrometres": r(
        lambda k: quicklook(k, chip_file(k, "um.nc", wavelength=NATIVE / 1000)),
        "um.nc",
        "look like micrometres",
        "expected nanometres",
    ),
    "quicklook-chip-rrs-beyond-limit": r(
        lambda k: quicklook(k, chip_file(k, "big.nc", factor=1e4)),
        "big.nc",
        "|Rrs| > 1/pi sr-1",
        "expected Rrs in sr-1",
    ),
    "quicklook-chip-without-red-band": r(
        lambda k: quicklook(k, chip_file(k, "blue.nc", wavelength=np.arange(400.0, 600.0, 5))),
        "blue.nc",
        "no band within 5.0 nm of 645.0 nm",
        "expected bands near 645, 555, 465 nm",
    ),
    # ---- model files (spectm predict)
    "predict-checkpoint-text-file": r(
        lambda k: predict(k, model_file(k, lambda p: p.write_text("weights: none\n"))),
        "model.pt",
        "not a readable torch file",
        "expected a deployable SpecTM microcystin model",
    ),
    "predict-checkpoint-empty-file": r(
        lambda k: predict(k, model_file(k, lambda p: p.write_bytes(b""))),
        "model.pt",
        "empty (0 bytes)",
        "expected a deployable SpecTM microcystin model",
    ),
    "predict-checkpoint-truncated": r(
        lambda k: predict(k, model_file(k, truncated_torch)),
        "model.pt",
        "not a readable torch file",
        "truncated",
        "expected a deployable SpecTM microcystin model",
    ),
    "predict-checkpoint-wrong-kind": r(
        lambda k: predict(k, model_file(k, lambda p: torch.save({"w": torch.zeros(3)}, p))),
        "model.pt",
        "is not a deployable SpecTM microcystin model: format None",
        f"expected '{DEPLOYABLE_FORMAT}'",
    ),
    "predict-checkpoint-a-tensor": r(
        lambda k: predict(k, model_file(k, lambda p: torch.save(torch.zeros(3), p))),
        "model.pt",
        "format 'Tensor'",
        f"expected '{DEPLOYABLE_FORMAT}'",
    ),
    "predict-checkpoint-missing-parts": r(
        lambda k: predict(
            k, model_file(k, lambda p: torch.save({"format": DEPLOYABLE_FORMAT, "meta": {}}, p))
        ),
        "model.pt",
        "deployable model file lacks ['model', 'head'",
        "expected a file written by spectm.train.deploy.train_deployable",
    ),
    "predict-checkpoint-malicious-torch-save": r(
        lambda k: predict(
            k, model_file(k, lambda p: torch.save({"model": Evil(k.tmp / "PWNED")}, p))
        ),
        "model.pt",
        "refused",
        "posix.system",
        "weights_only=True",
    ),
    "predict-checkpoint-malicious-pickle": r(
        lambda k: predict(
            k,
            model_file(k, lambda p: p.write_bytes(pickle.dumps(Evil(k.tmp / "PWNED"), protocol=2))),
        ),
        "model.pt",
        "refused",
        "posix.system",
    ),
    "predict-checkpoint-missing": r(
        lambda k: predict(k, k.tmp / "none.pt"),
        "none.pt",
        "no such file",
    ),
    "predict-checkpoint-a-directory": r(
        lambda k: predict(k, model_file(k, lambda p: p.mkdir())),
        "model.pt: is a directory",
        "expected a deployable SpecTM microcystin model",
    ),
    "predict-checkpoint-a-pretrained-model": r(
        lambda k: predict(k, model_file(k, lambda p: torch.save({"model": {}, "meta": {}}, p))),
        "model.pt is not a deployable SpecTM microcystin model",
        "(a pretrained model.pt? train one with train_deployable)",
    ),
    "predict-spectra-empty-file": r(
        lambda k: predict(k, no_model(k), write_bytes(k, "empty.csv", b"")),
        "empty.csv",
        "empty (0 bytes)",
    ),
    "predict-spectra-text-cell": r(
        lambda k: predict(k, no_model(k), spectra_csv(k, "t.csv", text_cell("Rrs_620", 2, "x"))),
        "t.csv",
        "data row 3 (file line 4)",
        "'Rrs_620'",
        "'x' is not a number",
    ),
    "predict-spectra-micrometres": r(
        lambda k: predict(k, no_model(k), spectra_csv(k, "um.csv", micrometres)),
        "um.csv",
        "look like micrometres",
    ),
    "predict-spectra-no-rrs-columns": r(
        lambda k: predict(k, no_model(k), write_bytes(k, "no.csv", b"id,value\n1,2\n")),
        "no.csv",
        "no 'Rrs_<nm>' spectral columns",
    ),
    "predict-device-unknown": r(
        lambda k: predict(k, no_model(k), spectra_csv(k), "--device", "tpu"),
        "--device",
        "'tpu' is not a device",
        "expected auto, cpu, mps, cuda or cuda:N",
        code=2,
    ),
    # ---- pretraining (spectm pretrain)
    "pretrain-corpus-not-parquet": r(
        lambda k: pretrain(k, write_bytes(k, "corpus.parquet", b"granule,time_utc\n")),
        "corpus.parquet",
        "not a readable Parquet file",
        "expected a pretraining corpus",
    ),
    "pretrain-corpus-empty-file": r(
        lambda k: pretrain(k, write_bytes(k, "corpus.parquet", b"")),
        "corpus.parquet",
        "not a readable Parquet file (0 bytes",
    ),
    "pretrain-corpus-wrong-table": r(
        lambda k: pretrain(k, write_corpus(pd.DataFrame({"a": [1.0]}), k.tmp / "c.parquet")),
        "c.parquet",
        "missing columns",
    ),
    "pretrain-checkpoint-not-torch": r(
        garbage_checkpoint,
        "checkpoint.pt",
        "not a readable torch file",
        "expected a SpecTM pretraining checkpoint",
    ),
    "pretrain-max-epochs-zero": r(
        lambda k: pretrain(k, k.tmp / "c.parquet", "--max-epochs", "0"),
        "--max-epochs",
        "0 is too small",
        "expected an integer >= 1",
        code=2,
    ),
    "pretrain-batch-size-text": r(
        lambda k: pretrain(k, k.tmp / "c.parquet", "--batch-size", "many"),
        "--batch-size",
        "'many' is not an integer",
        code=2,
    ),
    "pretrain-lr-nan": r(
        lambda k: pretrain(k, k.tmp / "c.parquet", "--lr", "nan"),
        "--lr",
        "expected a finite number > 0",
        code=2,
    ),
    "pretrain-seed-negative": r(
        lambda k: pretrain(k, k.tmp / "c.parquet", "--seed", "-1"),
        "--seed",
        "expected an integer >= 0",
        code=2,
    ),
    # ---- PACE search and download (spectm pace-search / pace-granule)
    "pace-search-max-granules-negative": r(
        lambda k: pace_search(k, "--max-granules", "-3"),
        "--max-granules",
        "-3 is too small",
        "expected an integer >= 1",
        code=2,
    ),
    "pace-search-max-granules-zero": r(
        lambda k: pace_search(k, "--max-granules", "0"),
        "--max-granules",
        "expected an integer >= 1",
        code=2,
    ),
    "pace-search-start-after-end": r(
        lambda k: pace_search(k, "--start", "2024-09-01", "--end", "2024-08-01"),
        "start 2024-09-01 (--start) is after end 2024-08-01 (--end)",
        "expected start <= end",
    ),
    "pace-search-start-after-configured-end": r(
        lambda k: pace_search(k, "--start", "2026-01-01"),
        "(--start) is after end 2025-10-31 (config key pace.end)",
        "expected start <= end",
    ),
    "pace-search-impossible-date": r(
        lambda k: pace_search(k, "--start", "2024-02-30"),
        "--start",
        "'2024-02-30' is not a calendar date",
        "expected YYYY-MM-DD",
        code=2,
    ),
    "pace-search-date-format": r(
        lambda k: pace_search(k, "--end", "08/01/2024"),
        "--end",
        "'08/01/2024' is not a calendar date",
        "expected YYYY-MM-DD",
        code=2,
    ),
    "pace-search-bbox-inverted": r(
        lambda k: pace_search(k, "--bbox", "-83.5,42.2,-82.45,41.3"),
        "--bbox",
        "not an ordered box",
        code=2,
    ),
    "pace-search-bbox-three-numbers": r(
        lambda k: pace_search(k, "--bbox", "-83.5,41.3,-82.45"),
        "--bbox",
        "is not 4 finite numbers",
        code=2,
    ),
    "pace-granule-manifest-empty": r(
        lambda k: pace_granule(k, write_bytes(k, "m.csv", b"")),
        "m.csv",
        "empty (0 bytes)",
        "expected a granule manifest CSV",
    ),
    "pace-granule-manifest-utf16": r(
        lambda k: pace_granule(k, write_bytes(k, "m.csv", utf16(manifest(k).read_text()))),
        "m.csv",
        "UTF-16",
        "expected a granule manifest CSV (spectm pace-search), as UTF-8 text",
    ),
    "pace-granule-manifest-missing": r(
        lambda k: pace_granule(k, k.tmp / "none.csv"),
        "none.csv",
        "no such file",
    ),
    "pace-granule-manifest-columns": r(
        lambda k: pace_granule(k, write_bytes(k, "m.csv", b"name,link\na,b\n")),
        "m.csv",
        "missing column(s)",
    ),
    "pace-granule-not-in-manifest": r(
        lambda k: pace_granule(k, manifest(k), granule="PACE_OCI.x.nc"),
        "manifest.csv",
        "'PACE_OCI.x.nc' is not in the manifest",
    ),
    "pace-granule-retries-zero": r(
        lambda k: pace_granule(k, manifest(k), "--retries", "0"),
        "--retries",
        "expected an integer >= 1",
        code=2,
    ),
    # ---- configuration files (spectm validate-config, --config)
    "config-start-after-end": r(
        lambda k: validate(k, puts(put("pace.start", "2025-06-01"), put("pace.end", "2025-05-01"))),
        "config.yaml",
        "config key 'pace.start': 2025-06-01 is after pace.end 2025-05-01",
        "expected start <= end",
    ),
    "config-enmap-start-after-end": r(
        lambda k: validate(k, put("enmap.start", "2024-12-01")),
        "config key 'enmap.start'",
        "is after enmap.end",
        "expected start <= end",
    ),
    "config-impossible-date": r(
        lambda k: validate(k, put("pace.end", "2025-02-30")),
        "config key 'pace.end'",
        "'2025-02-30' is not a calendar date",
        "expected YYYY-MM-DD",
    ),
    "config-aoi-bbox-inverted": r(
        lambda k: validate(k, put("aoi_bbox", [-82.45, 41.3, -83.5, 42.2])),
        "config.yaml",
        "config key 'aoi_bbox'",
        "-180 <= lon_min < lon_max <= 180",
    ),
    "config-aoi-bbox-latitude-95": r(
        lambda k: validate(k, put("aoi_bbox", [-83.5, 41.3, -82.45, 95])),
        "config key 'aoi_bbox'",
        "-90 <= lat_min < lat_max <= 90",
    ),
    "config-enmap-bbox-inverted": r(
        lambda k: validate(k, put("enmap.bbox", [-83, 42, -84, 41])),
        "config key 'enmap.bbox'",
        "is not a bounding box",
    ),
    "config-max-cv-nan": r(
        lambda k: validate(k, put("matchup.max_cv", float("nan"))),
        "config.yaml",
        "config key 'matchup.max_cv': nan is not a finite number",
    ),
    "config-lr-infinite": r(
        lambda k: validate(k, put("pretrain.lr", float("inf"))),
        "config key 'pretrain.lr': inf is not a finite number",
    ),
    "config-nan-in-a-list": r(
        lambda k: validate(k, put("finetune.fractions", [0.5, float("nan")])),
        "config key 'finetune.fractions[1]': nan is not a finite number",
    ),
    "config-mask-window-reversed": r(
        lambda k: validate(k, put("model.mask_windows_nm", [[640, 615]])),
        "config key 'model.mask_windows_nm[0]'",
        "expected [lo_nm, hi_nm] with lo < hi",
    ),
    "config-band-ranges-reversed": r(
        lambda k: validate(k, put("enmap.band_ranges", [[50, 10]])),
        "config key 'enmap.band_ranges'",
        "is reversed",
        "expected ordered [first, last] ranges",
    ),
    "config-empty-file": r(
        lambda k: ["validate-config", str(write_bytes(k, "c.yaml", b""))],
        "c.yaml",
        "empty (0 bytes)",
        "expected a YAML workflow configuration",
    ),
    "config-top-level-list": r(
        lambda k: ["validate-config", str(write_bytes(k, "c.yaml", b"- a\n- b\n"))],
        "c.yaml",
        "the top level is list",
        "expected a mapping of config keys",
    ),
    "config-not-yaml": r(
        lambda k: ["validate-config", str(write_bytes(k, "c.yaml", b"pace: [1, 2\n"))],
        "c.yaml",
        "not valid YAML",
    ),
    "config-utf16": r(
        lambda k: [
            "validate-config",
            str(write_bytes(k, "c.yaml", utf16(DEFAULT_CONFIG_PATH.read_text()))),
        ],
        "c.yaml",
        "UTF-16",
        "as UTF-8 text",
    ),
    "config-wrong-type": r(
        lambda k: validate(k, put("matchup.window_days", "four")),
        "config key 'matchup.window_days'",
        "'four' is not of type 'number'",
    ),
    "config-bad-file-given-to-a-step": r(
        lambda k: [
            "--config",
            str(config_file(k, put("pace.demo.max_granules", -3))),
            "pace-search",
            "--out",
            str(k.out / "m.csv"),
        ],
        "config.yaml",
        "config key 'pace.demo.max_granules'",
        "-3 is less than the minimum of 1",
    ),
    # ---- EnMAP L2A products (spectm enmap-chip)
    "enmap-directory-missing": r(
        lambda k: enmap_chip(k, k.tmp / "nowhere"),
        "nowhere",
        "not found",
    ),
    "enmap-metadata-in-micrometres": r(
        lambda k: enmap_chip(k, enmap_xml(k, scale_centres)),
        "METADATA.XML",
        "wavelengthCenterOfBand",
        "look like micrometres",
        "expected nanometres",
    ),
    "enmap-metadata-not-xml": r(
        lambda k: enmap_chip(k, enmap_xml(k, lambda text: "not xml at all")),
        "METADATA.XML",
        "not a readable XML file",
    ),
    "enmap-metadata-empty": r(
        lambda k: enmap_chip(k, enmap_xml(k, lambda text: "")),
        "METADATA.XML",
        "not a readable XML file",
    ),
    "enmap-metadata-gain-nan": r(
        lambda k: enmap_chip(k, enmap_xml(k, replace_first("GainOfBand", "nan"))),
        "METADATA.XML",
        "GainOfBand is not finite",
    ),
    "enmap-metadata-centre-text": r(
        lambda k: enmap_chip(k, enmap_xml(k, replace_first("wavelengthCenterOfBand", "blue"))),
        "METADATA.XML",
        "[@number='1']/wavelengthCenterOfBand is missing or not a number",
    ),
    "enmap-metadata-stop-before-start": r(
        lambda k: enmap_chip(k, enmap_xml(k, replace_first("stopTime", "2000-01-01T00:00:00Z"))),
        "METADATA.XML",
        "stopTime",
        "is before",
    ),
    "enmap-image-not-tiff": r(
        lambda k: enmap_chip(k, enmap_file(k, "SPECTRAL_IMAGE.TIF", b"not a tiff\n")),
        "SPECTRAL_IMAGE.TIF",
        "not a readable GeoTIFF",
    ),
    "enmap-quality-layer-missing": r(
        lambda k: enmap_chip(k, enmap_file(k, "QL_PIXELMASK.TIF", None)),
        "product",
        "lacks",
        "QL_PIXELMASK.TIF",
    ),
    "enmap-chip-size-too-small": r(
        lambda k: [*enmap_chip(k, k.tmp), "--size", "4"],
        "--size",
        "4 is too small",
        "expected an integer >= 16",
        code=2,
    ),
}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_bad_input_is_refused_with_one_clear_line(name, tmp_path, pristine, capsys):
    case = REFUSED[name]
    kit = Kit(tmp_path, pristine)
    argv = case.build(kit)
    capsys.readouterr()
    code, err = _run(argv, capsys)
    assert code == case.code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if case.code == 2:  # argparse: usage, then one "error:" line
        errors = [line for line in lines if ": error: " in line]
        assert len(errors) == 1 and lines[-1] == errors[0], err
    else:  # every stderr line is one log record; exactly one is an ERROR
        assert all(LOG_RECORD.match(line) for line in lines), err
        errors = [line for line in lines if " ERROR " in line]
        assert len(errors) == 1, err
    missing = [s for s in case.expect if s not in errors[0]]
    assert not missing, f"{missing} not in {errors[0]!r}"
    if kit.out.is_dir():
        left = sorted(p.name for p in kit.out.iterdir())
    else:
        left = [kit.out.name] if kit.out.exists() else []
    kept = ["checkpoint.pt"] if name == "pretrain-checkpoint-not-torch" else []  # the user's
    assert left == kept, "a refused input left output behind"
    assert not (tmp_path / "PWNED").exists(), "a model file ran code while being loaded"


# --------------------------------------------------------------------------- dropped, with reason


@dataclass(frozen=True)
class Excluded:
    """A GLERL value that is impossible: the run succeeds, the value is dropped with its reason.

    Attributes:
        edit: Change of the 4-line GLERL file.
        data_row: The edited data row (1-based).
        column: Harmonised column that must be missing afterwards.
        reason: Substrings of the row's ``qc_excluded`` and of the logged warning.
    """

    edit: Callable[[list[list[str]]], None]
    data_row: int
    column: str
    reason: tuple[str, ...]


PMC = "Particulate_Microcystin_ugL-1"
EXCLUDED: dict[str, Excluded] = {
    "samples-microcystin-negative": Excluded(
        set_cell(PMC, 1, "-5"),
        1,
        "particulate_microcystin_ugL",
        ("particulate_microcystin_ugL: '-5'", f"(column '{PMC}')", "0..10000 µg/L"),
    ),
    "samples-microcystin-99999999": Excluded(
        set_cell(PMC, 3, "99999999"),
        3,
        "particulate_microcystin_ugL",
        ("'99999999'", "outside the plausible range 0..10000 µg/L"),
    ),
    "samples-microcystin-negative-detection-limit": Excluded(
        set_cell(PMC, 2, "<-0.5"),
        2,
        "particulate_microcystin_ugL_dl",
        ("particulate_microcystin_ugL: '<-0.5'",),
    ),
    "samples-chlorophyll-negative": Excluded(
        set_cell("Extracted_CHLa_ugL-1", 1, "-1.2"),
        1,
        "chla_ugL",
        ("chla_ugL: '-1.2'", "0..inf µg/L"),
    ),
    "samples-transmission-150-percent": Excluded(
        set_cell("Transmiss_pct", 3, "150"),
        3,
        "transmission_pct",
        ("transmission_pct: '150'", "0..100 %"),
    ),
    "samples-water-temperature-99c": Excluded(
        set_cell("Temp_C", 1, "99"),
        1,
        "temp_c",
        ("temp_c: '99'", "-1..40 °C"),
    ),
}


@pytest.mark.parametrize("name", sorted(EXCLUDED))
def test_impossible_sample_values_are_dropped_with_their_reason(name, tmp_path, pristine, capsys):
    case = EXCLUDED[name]
    kit = Kit(tmp_path, pristine)
    path = glerl_csv(kit, f"{name}.csv", case.edit)
    capsys.readouterr()
    code, err = _run(samples(kit, path), capsys)
    assert code == 0, err
    df = pd.read_parquet(kit.out / "samples.parquet").set_index("source_row")
    row = df.loc[case.data_row]
    assert np.isnan(row[case.column])
    if case.column.endswith("_dl"):
        assert not row[case.column.removesuffix("_dl") + "_censored"]
    for text in case.reason:
        assert text in row["qc_excluded"]
    others = df.drop(index=case.data_row)
    assert (others["qc_excluded"] == "").all()  # only the broken cell is dropped
    warnings = [line for line in err.splitlines() if " WARNING " in line and path.name in line]
    assert len(warnings) == 1
    assert f"first data row {case.data_row} (file line {case.data_row + 1})" in warnings[0]
    assert case.reason[0] in warnings[0]


def test_far_positions_are_flagged_not_dropped(tmp_path, pristine):
    """Possible but far positions stay, flagged: by station distance, and outside Lake Erie."""
    kit = Kit(tmp_path, pristine)

    def far(rows: list[list[str]]) -> None:
        set_cell("Lat_deg", 1, "10.5")(rows)  # WE2 has a station median: distance flags it
        set_cell("Long_deg", 1, "20.25")(rows)
        set_cell("Site", 3, "2025.9")(rows)  # a special id, no station median
        set_cell("Lat_deg", 3, "-41.8")(rows)  # southern hemisphere: outside Lake Erie
        set_cell("Long_deg", 3, "-83.2")(rows)

    assert main(samples(kit, glerl_csv(kit, "far.csv", far))) == 0
    df = pd.read_parquet(kit.out / "samples.parquet").set_index("source_row")
    assert df.loc[1, "position_flag"] and df.loc[1, "dist_to_station_km"] > 5000
    assert df.loc[3, "position_flag"] and np.isnan(df.loc[3, "dist_to_station_km"])
    # the Bottom row of WE2's visit has no position of its own: it takes the visit's, flag too
    assert df.loc[2, "visit_filled"] and df.loc[2, "lat"] == 10.5 and df.loc[2, "position_flag"]
    assert df.loc[1, "lat"] == 10.5 and df.loc[3, "lat"] == -41.8  # kept as reported


def test_the_corpus_covers_every_command_with_at_least_forty_inputs():
    names = [*REFUSED, *EXCLUDED]
    assert len(names) >= 40
    commands = {n.split("-")[0] for n in names}
    assert {"samples", "resample", "indices", "chip", "quicklook", "predict", "pretrain",
            "pace", "config", "enmap"} <= commands  # fmt: skip


def test_unchanged_real_files_are_accepted(tmp_path, pristine):
    """The checks refuse the malformed copies, not the real inputs they were made from."""
    kit = Kit(tmp_path, pristine)
    assert main(samples(kit, glerl_csv(kit, "ok.csv"))) == 0
    assert (pd.read_parquet(kit.out / "samples.parquet")["qc_excluded"] == "").all()
    assert main(resample(kit, spectra_csv(kit))) == 0
    assert main(chip(kit, kit.granule())) == 0
    assert main(["validate-config", str(DEFAULT_CONFIG_PATH)]) == 0


def test_the_library_checks_behind_the_command_line(tmp_path):
    """The functions the CLI calls refuse the same values when called directly (workflow rules)."""
    from spectm.sources.pace import write_granule_manifest

    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"max_granules={bad}: expected an integer >= 1"):
            demo_manifest("2024-06-01", "2024-09-30", bad)
    kw = {"source": "demo", "short_name": "s", "version": "3.1", "provider": "p"}
    out = tmp_path / "m.csv"
    with pytest.raises(ValueError, match="start 2024-09-01 is after end 2024-08-01"):
        write_granule_manifest(
            out, **kw, start="2024-09-01", end="2024-08-01", bbox=(-83.5, 41.3, -82.45, 42.2)
        )
    with pytest.raises(ValueError, match="end '2024-02-30' is not a calendar date"):
        write_granule_manifest(
            out, **kw, start="2024-02-01", end="2024-02-30", bbox=(-83.5, 41.3, -82.45, 42.2)
        )
    with pytest.raises(ValueError, match="bbox must satisfy"):
        write_granule_manifest(
            out, **kw, start="2024-06-01", end="2024-06-30", bbox=(-82.45, 41.3, -83.5, 42.2)
        )
    assert not out.exists()
    assert len(demo_manifest("2024-06-01", "2024-09-30", 2)) == 2


# --------------------------------------------------------------------------- properties

PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
_PATH = Path("prop.csv")


def _measured(cells: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    notes: dict[int, list[str]] = {i: [] for i in range(len(cells))}
    return parse_measured(
        _PATH, "col", pd.Series(cells, dtype=object), np.arange(1, len(cells) + 1), notes,
        name="v",
    )  # fmt: skip


FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@PROPERTY
@given(st.lists(FINITE, min_size=1, max_size=8))
def test_any_number_round_trips_through_the_cell_parser(values):
    value, censored, dl = _measured([repr(v) for v in values])
    assert np.array_equal(value, np.asarray(values, dtype=float))
    assert not censored.any() and np.isnan(dl).all()


@PROPERTY
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.sampled_from(["<", "< "]))
def test_less_than_x_is_censored_at_x(x, prefix):
    value, censored, dl = _measured([f"{prefix}{x!r}", "1.5"])
    assert censored[0] and np.isnan(value[0]) and dl[0] == x
    assert value[1] == 1.5 and not censored[1]


@PROPERTY
@given(st.lists(st.text(max_size=12), min_size=1, max_size=6))
def test_any_text_parses_or_names_file_row_and_column(cells):
    stripped = [c.strip() for c in cells]
    try:
        value, censored, dl = _measured(stripped)
    except ValueError as err:
        message = str(err)
        assert message.startswith(f"{_PATH}: data row ") and "column 'col'" in message
        assert "cannot parse" in message
        return
    assert value.shape == censored.shape == dl.shape == (len(cells),)
    for i, c in enumerate(stripped):
        if c.lower() in MISSING_CODES:
            assert np.isnan(value[i]) and not censored[i]
        if censored[i]:
            assert np.isnan(value[i])


_S2 = build_resampler(NATIVE, target="S2A", method="srf")
_VALID = np.flatnonzero(_S2.valid)


@PROPERTY
@given(st.floats(min_value=-0.3, max_value=0.3, allow_nan=False))
def test_a_constant_spectrum_maps_to_the_same_constant_in_every_band(c):
    out = _S2.apply(np.full(NATIVE.size, c))
    assert np.allclose(out[_VALID], c, rtol=1e-12, atol=1e-15)
    assert np.isnan(out[~_S2.valid]).all()  # bands PACE does not cover stay NaN


SPECTRA = st.lists(
    st.floats(min_value=-0.0625, max_value=0.375, allow_nan=False, width=32),
    min_size=NATIVE.size, max_size=NATIVE.size,
)  # fmt: skip


@PROPERTY
@given(SPECTRA, SPECTRA, st.floats(min_value=-10, max_value=10, allow_nan=False))
def test_resampling_is_linear(x, y, a):
    x, y = np.asarray(x), np.asarray(y)
    lhs = _S2.apply(a * x + y)[_VALID]
    rhs = (a * _S2.apply(x) + _S2.apply(y))[_VALID]
    assert np.allclose(lhs, rhs, rtol=1e-9, atol=1e-12)


_RESAMPLERS = {m: build_resampler(NATIVE, target="S2A", method=m) for m in ("naive", "gaussian")}
_RESAMPLERS["srf"] = _S2


@PROPERTY
@given(SPECTRA, st.sampled_from(sorted(_RESAMPLERS)))
def test_float32_finite_input_gives_finite_output_in_every_valid_band(x, method):
    res = _RESAMPLERS[method]
    out = res.apply(np.asarray(x, dtype=np.float32))
    assert np.isfinite(out[res.valid]).all()
    lo, hi = float(np.min(x)), float(np.max(x))
    assert (out[res.valid] >= lo - 1e-9).all() and (out[res.valid] <= hi + 1e-9).all()
