"""EnMAP sources behind one interface (spectm.sources.enmap): local products read in place, demo."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from spectm.io.enmap_chips import make_enmap_chips
from spectm.io.enmap_l2a import product_file_name, read_metadata
from spectm.sources.enmap import (
    MANIFEST_COLUMNS,
    fetch_product,
    product_directory,
    read_product_manifest,
    write_product_manifest,
)
from spectm.sources.enmap.demo import demo_product_name, write_demo_product

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

BBOX = (-83.6, 41.3, -82.4, 42.2)
STAC = {"stac_url": "https://stac.invalid/", "collection": "ENMAP_HSI_L2A"}


@dataclass(frozen=True)
class Demo:
    shape: tuple[int, int] = (40, 48)
    seed: int = 4
    cloud_fraction: float = 0.05
    n_products: int = 2


def _name(day: str, dt: int) -> str:
    return demo_product_name(pd.Timestamp(f"{day}T16:30:00Z"), dt)


def _write(folder: Path, name: str, day: str, centre=(-83.1, 41.7)) -> Path:
    return write_demo_product(
        name, folder, shape=(40, 40), seed=1, cloud_fraction=0.0, centre_lonlat=centre,
        time_start=f"{day}T16:30:00Z",
    )  # fmt: skip


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> Path:
    """A delivery directory: a product per sub-directory, two side by side, and misfits."""
    root = tmp_path_factory.mktemp("delivered")
    _write(root / "a" / "deep", _name("2024-07-02", 1), "2024-07-02")
    side = root / "side"
    _write(side, _name("2024-08-10", 2), "2024-08-10")
    _write(root / "tmp", _name("2024-07-20", 3), "2024-07-20")
    for p in (root / "tmp").iterdir():
        p.rename(side / p.name)  # now two products share side/
    (root / "tmp").rmdir()
    _write(root / "late", _name("2024-10-01", 4), "2024-10-01")  # outside the period
    _write(root / "alps", _name("2024-07-05", 5), "2024-07-05", centre=(10.0, 47.0))  # elsewhere
    broken = _write(root / "broken", _name("2024-07-06", 6), "2024-07-06")
    (broken / product_file_name(_name("2024-07-06", 6), "QL_QUALITY_CLOUD")).unlink()
    return root


def test_local_manifest_lists_products_in_period_and_aoi_read_in_place(delivered, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        manifest = write_product_manifest(
            tmp_path / "m.csv", source="local", start="2024-07-01", end="2024-08-31", bbox=BBOX,
            max_products=None, demo_settings=Demo(), local_dir=delivered, **STAC,
        )  # fmt: skip
    df = read_product_manifest(manifest)
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    assert df["product"].tolist() == [
        _name("2024-07-02", 1), _name("2024-07-20", 3), _name("2024-08-10", 2)
    ]  # fmt: skip
    assert "QL_QUALITY_CLOUD" in caplog.text  # the broken one is skipped with a reason
    assert df["url"].tolist() == [
        str(delivered / "a" / "deep"), str(delivered / "side"), str(delivered / "side")
    ]  # fmt: skip
    assert (df["source"] == "local").all()
    assert df["time_start"][0] == "2024-07-02T16:30:00Z"
    assert (df["west"] < -83.1).all() and (df["east"] > -83.1).all()
    # fetch copies and links nothing; the product is read where it is
    before = sorted(p.relative_to(delivered) for p in delivered.rglob("*"))
    root = tmp_path / "products"
    name = _name("2024-07-20", 3)
    got = fetch_product(manifest, name, root=root, source="local", retries=0, demo_settings=Demo())
    assert got == delivered / "side" == product_directory(manifest, name, root=root)
    assert not root.exists()
    assert sorted(p.relative_to(delivered) for p in delivered.rglob("*")) == before
    chips = make_enmap_chips(got, tmp_path / "chips", size=20, bands=[10, 20], name=name)
    assert len(chips) == 4 and all(c.name.startswith(name) for c in chips)
    # max_products keeps the first in time
    first = write_product_manifest(
        tmp_path / "m1.csv", source="local", start="2024-07-01", end="2024-08-31", bbox=BBOX,
        max_products=1, demo_settings=Demo(), local_dir=delivered, **STAC,
    )  # fmt: skip
    assert read_product_manifest(first)["product"].tolist() == [_name("2024-07-02", 1)]


def test_local_source_errors(delivered, tmp_path):
    kw = {"start": "2024-07-01", "end": "2024-08-31", "bbox": BBOX, "max_products": None, **STAC}
    with pytest.raises(ValueError, match=r"'enmap\.local_dir' is required"):
        write_product_manifest(
            tmp_path / "m.csv", source="local", demo_settings=Demo(), local_dir=None, **kw
        )
    with pytest.raises(FileNotFoundError, match="local EnMAP product directory not found"):
        write_product_manifest(
            tmp_path / "m.csv", source="local", demo_settings=Demo(),
            local_dir=tmp_path / "nowhere", **kw,
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="no EnMAP L2A products in"):
        write_product_manifest(
            tmp_path / "m.csv", source="local", demo_settings=Demo(), local_dir=delivered,
            **{**kw, "start": "2023-01-01", "end": "2023-01-31"},
        )  # fmt: skip
    with pytest.raises(ValueError, match="unknown source 'eoweb'"):
        write_product_manifest(
            tmp_path / "m.csv", source="eoweb", demo_settings=Demo(), local_dir=None, **kw
        )
    assert not (tmp_path / "m.csv").exists()


def test_demo_source_through_the_interface(tmp_path):
    manifest = write_product_manifest(
        tmp_path / "m.csv", source="demo", start="2024-07-01", end="2024-07-31", bbox=BBOX,
        max_products=None, demo_settings=Demo(), local_dir=None, **STAC,
    )  # fmt: skip
    df = read_product_manifest(manifest)
    assert len(df) == 2 and (df["source"] == "demo").all()
    assert df["url"][0] == f"demo:enmap/{df['product'][0]}"
    name = df["product"][1]
    root = tmp_path / "products"
    folder = fetch_product(
        manifest, name, root=root, source="demo", retries=0, demo_settings=Demo()
    )
    assert folder == root / name == product_directory(manifest, name, root=root)
    meta = read_metadata(folder / product_file_name(name, "METADATA"))
    assert meta.product == name
    assert meta.time_start == pd.Timestamp(df["time_start"][1])
    chips = make_enmap_chips(folder, tmp_path / "chips", size=16, bands=[5, 60])
    assert len(chips) == 6  # 40 x 48 px: 2 x 3 tiles of 16
    with pytest.raises(ValueError, match="comes from source 'demo', not 'stac'"):
        fetch_product(manifest, name, root=root, source="stac", retries=0, demo_settings=Demo())
    with pytest.raises(KeyError, match="not in the manifest"):
        fetch_product(manifest, "nope", root=root, source="demo", retries=0, demo_settings=Demo())
    # a rerun replaces the product directory atomically (no temporary directory left)
    fetch_product(manifest, name, root=root, source="demo", retries=0, demo_settings=Demo())
    assert sorted(p.name for p in root.iterdir()) == [name]
    shutil.rmtree(root)


def test_link_product_gives_the_product_a_directory_of_links(tmp_path):
    from spectm.io.enmap_l2a import find_product
    from spectm.sources.enmap.local import link_product

    name = _name("2024-07-02", 1)
    src = _write(tmp_path / "delivered", name, "2024-07-02")
    out = link_product(src, name, tmp_path / "res" / name)
    linked = find_product(out, name)
    original = find_product(src, name)
    assert linked.spectral_image.is_symlink()
    assert linked.spectral_image.resolve() == original.spectral_image.resolve()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())
    assert not (tmp_path / "res" / f".{name}.tmp").exists()
