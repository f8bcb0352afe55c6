"""EnMAP L2A reader and chips (spectm.io.enmap_l2a) on small demo products, and the chip contract.

Products are written by the demo source (real file structure, 64 x 64 pixels) and read back; the
expected values come from the files themselves (rasterio, xml.etree), never from the reader.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer

from spectm.io import enmap_chips as C
from spectm.io import enmap_l2a as E
from spectm.io import enmap_scene as S
from spectm.io.chips import (
    ChipContractError,
    chip_sensor,
    read_chip_file,
    read_enmap_chip,
    validate_chip,
    write_chip,
)
from spectm.sources.enmap.demo import DEMO_CLASSES, write_demo_product
from spectm.spectral.bands import enmap_bands

NAME = "ENMAP01-____L2A-DT0000000042_20240715T162959Z_001_V010502_20240716T080000Z"
OTHER = "ENMAP01-____L2A-DT0000000043_20240716T162959Z_001_V010502_20240717T080000Z"
CENTRE = (-83.2, 41.7)
# rioxarray calls affine's deprecated `*`; not ours
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


def demo(tmp: Path, name: str = NAME, *, shape=(64, 64), cloud=0.1, seed=3, **kw) -> Path:
    return write_demo_product(
        name,
        tmp / name,
        shape=shape,
        seed=seed,
        cloud_fraction=cloud,
        centre_lonlat=CENTRE,
        time_start="2024-07-15T16:29:59Z",
        **kw,
    )


def path_of(folder: Path, name: str, kind: str) -> Path:
    return folder / E.product_file_name(name, kind)


def raster(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    return demo(tmp_path_factory.mktemp("enmap"))


@pytest.fixture(scope="module")
def shifted(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A product whose XML differs from the bundled table: centres +3 nm, FWHM x 1.1, other gain."""
    t = enmap_bands()
    table = pd.DataFrame(
        {
            "band": t["band"],
            "wavelength_nm": t["centre_nm"] + 3.0,
            "fwhm_nm": t["fwhm_nm"] * 1.1,
            "gain": 2.5e-5,
            "offset": -0.01,
        }
    )
    return demo(tmp_path_factory.mktemp("shifted"), band_table=table), table


# --------------------------------------------------------------------------- metadata, bands


def test_reader_takes_wavelengths_fwhm_gain_offset_from_the_products_own_xml(shifted):
    folder, table = shifted
    meta = E.read_metadata(path_of(folder, NAME, E.METADATA))
    assert meta.product == NAME and meta.level == "L2A"
    assert meta.time_start == pd.Timestamp("2024-07-15T16:29:59Z")
    assert meta.time_end == pd.Timestamp("2024-07-15T16:30:03Z")
    np.testing.assert_allclose(meta.bands["wavelength_nm"], table["wavelength_nm"], atol=1e-3)
    np.testing.assert_allclose(meta.bands["fwhm_nm"], table["fwhm_nm"], atol=1e-4)
    assert (meta.bands["gain"] == 2.5e-5).all() and (meta.bands["offset"] == -0.01).all()

    ds = S.read_product(folder, bands=range(1, 225), quality_layers=())
    order = np.argsort(table["wavelength_nm"].to_numpy(), kind="stable")
    np.testing.assert_allclose(
        ds["wavelength"], table["wavelength_nm"].to_numpy()[order], atol=1e-3
    )
    np.testing.assert_allclose(ds["fwhm"], table["fwhm_nm"].to_numpy()[order], atol=1e-4)
    assert ds["band"].values.tolist() == (order + 1).tolist()
    bundled = np.sort(enmap_bands()["centre_nm"].to_numpy())
    assert np.abs(ds["wavelength"].values - bundled).min() > 2.9  # not the bundled table
    # reflectance = DN * gain + offset of this product, per band (no quality layer applied)
    dn = raster(path_of(folder, NAME, E.SPECTRAL_IMAGE))  # (224, y, x) in band order
    expected = np.where(dn == -32768, np.nan, dn * 2.5e-5 - 0.01)[order]
    got = np.moveaxis(ds["reflectance"].values, -1, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert np.isfinite(got).sum() > 0.5 * got.size


def test_default_subset_has_202_bands_sorted_by_centre_with_the_detector_overlap(product):
    assert len(E.DEFAULT_BANDS) == 202 and E.default_bands() == list(E.DEFAULT_BANDS)
    dropped = set(range(1, 225)) - set(E.DEFAULT_BANDS)
    assert dropped == set(range(127, 142)) | set(range(161, 168))
    ds = S.read_product(product, bands=E.DEFAULT_BANDS)
    assert ds.sizes["wavelength"] == 202
    assert sorted(ds["band"].values.tolist()) == list(E.DEFAULT_BANDS)
    assert np.all(np.diff(ds["wavelength"].values) > 0)
    meta = E.read_metadata(path_of(product, NAME, E.METADATA)).bands.set_index("band")
    np.testing.assert_allclose(ds["wavelength"], meta.loc[ds["band"].values, "wavelength_nm"])
    # VNIR 80-91 and SWIR 92-101 both cover 902-993 nm: kept, interleaved by centre
    band = ds["band"].values.tolist()
    overlap = [b for b, w in zip(band, ds["wavelength"].values, strict=True) if 900 < w < 995]
    assert {91, 92} <= set(overlap)
    assert overlap != sorted(overlap)  # VNIR and SWIR bands alternate
    assert E.describe_bands(E.DEFAULT_BANDS) == "202 bands: 1-126,142-160,168-224"


def test_band_subset_errors(product):
    with pytest.raises(E.EnmapProductError, match=r"bands \[225\] are not among its 224"):
        S.read_product(product, bands=[1, 225])
    with pytest.raises(E.EnmapProductError, match=r"repeats bands \[5\]"):
        S.read_product(product, bands=[5, 6, 5])


# --------------------------------------------------------------------------- masks


def test_nodata_and_quality_layers_become_nan(product):
    dn = raster(path_of(product, NAME, E.SPECTRAL_IMAGE))[:, :, :]  # (224, y, x)
    cloud = raster(path_of(product, NAME, "QL_QUALITY_CLOUD"))[0].astype(bool)
    pixmask = raster(path_of(product, NAME, "QL_PIXELMASK"))[0].astype(bool)
    flagged = np.zeros_like(cloud)
    for q in E.QUALITY_LAYERS:
        flagged |= raster(path_of(product, NAME, q))[0].astype(bool)
    nodata_px = (dn == -32768).all(axis=0)
    bad = (dn == -32768).all(axis=(1, 2))  # bad bands: no-data everywhere
    assert cloud.any() and pixmask.any() and nodata_px.any()
    assert (dn[~bad][:, pixmask & ~nodata_px] != -32768).all()  # defective pixels: valid DN
    bands = list(range(1, 225))
    masked = S.read_product(product, bands=bands)["reflectance"].values  # (y, x, 224)
    raw = S.read_product(product, bands=bands, quality_layers=())["reflectance"].values
    assert np.isnan(masked[cloud]).all() and np.isnan(masked[pixmask]).all()
    assert np.isfinite(raw[cloud & ~nodata_px][:, :100]).all()  # only the QL layer masks them
    assert np.isnan(raw[nodata_px]).all()  # -32768 is NaN with or without quality layers
    assert bad.sum() >= 5 and set(np.flatnonzero(bad) + 1) <= set(E.WATER_VAPOUR_BANDS)
    assert np.isnan(raw[..., bad]).all()
    clear = ~flagged & ~nodata_px
    assert np.isfinite(masked[clear][:, ~bad]).all()
    # only cloud and pixel mask: haze and shadow pixels stay valid
    some = S.read_product(product, bands=bands, quality_layers=["QL_PIXELMASK", "QL_QUALITY_CLOUD"])
    haze = raster(path_of(product, NAME, "QL_QUALITY_HAZE"))[0].astype(bool)
    haze &= ~cloud & ~pixmask & ~nodata_px
    assert haze.any() and np.isfinite(some["reflectance"].values[haze][:, ~bad]).all()
    assert some.attrs["quality_layers_applied"] == "QL_PIXELMASK QL_QUALITY_CLOUD"


def test_a_per_band_quality_layer_flags_single_bands(tmp_path, product):
    folder = tmp_path / "p"
    shutil.copytree(product, folder)
    ql = path_of(folder, NAME, "QL_PIXELMASK")
    with rasterio.open(ql) as src:
        profile = src.profile
    per_band = np.zeros((224, 64, 64), dtype=np.uint8)
    per_band[9, 30, 31] = 1  # band 10 at one clear pixel
    profile.update(count=224)
    with rasterio.open(ql, "w", **profile) as dst:
        dst.write(per_band)
    refl = S.read_product(folder, bands=[9, 10, 11], quality_layers=["QL_PIXELMASK"])
    px = refl["reflectance"].values[30, 31]
    assert np.isnan(px[1]) and np.isfinite(px[[0, 2]]).all()


# --------------------------------------------------------------------------- chips


def test_chips_follow_the_contract_with_lat_lon_of_every_pixel(tmp_path, product):
    chips = C.make_enmap_chips(product, tmp_path / "chips", size=32, bands=E.DEFAULT_BANDS)
    assert [c.name for c in chips] == [
        f"{NAME}_r0000_c0000.nc",
        f"{NAME}_r0000_c0032.nc",
        f"{NAME}_r0032_c0000.nc",
        f"{NAME}_r0032_c0032.nc",
    ]
    ds = read_enmap_chip(chips[3])
    assert chip_sensor(ds) == "EnMAP"
    assert ds["reflectance"].dims == ("y", "x", "wavelength") and ds.sizes["y"] == 32
    assert ds["reflectance"].dtype == np.float32 and ds["reflectance"].attrs["units"] == "1"
    assert ds["wavelength"].dtype == np.float64 and ds.sizes["wavelength"] == 202
    assert ds.attrs["sensor"] == "EnMAP" and ds.attrs["processing_level"] == "L2A"
    assert ds.attrs["product"] == NAME and ds.attrs["units"] == "1"
    assert int(ds.attrs["chip_row"]) == 32 and int(ds.attrs["chip_col"]) == 32
    assert ds.attrs["time_coverage_start"] == "2024-07-15T16:29:59.000Z"
    assert ds.attrs["time_coverage_end"] == "2024-07-15T16:30:03.000Z"
    assert ds.attrs["bands"] == "202 bands: 1-126,142-160,168-224"
    assert "spectm_demo" in ds.attrs and "generated" in ds.attrs["spectm_demo"]
    # pixel centres from the GeoTIFF transform and CRS, independently of the reader
    with rasterio.open(path_of(product, NAME, E.SPECTRAL_IMAGE)) as src:
        rows, cols = np.mgrid[32:64, 32:64]
        xs, ys = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel(), offset="center")
        lon, lat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    np.testing.assert_allclose(ds["lon"].values.ravel(), lon, atol=1e-9)
    np.testing.assert_allclose(ds["lat"].values.ravel(), lat, atol=1e-9)
    bbox = np.asarray(ds.attrs["bbox"])
    assert bbox[0] == pytest.approx(np.min(lon)) and bbox[3] == pytest.approx(np.max(lat))
    # the chip holds the scene's pixels at its offset
    whole = S.read_product(product, bands=E.DEFAULT_BANDS)["reflectance"].values
    np.testing.assert_array_equal(ds["reflectance"].values, whole[32:64, 32:64])
    assert ds["lat"].values.min() > 41.6 and ds["lon"].values.max() < -83.1


def test_labels_and_target_are_carried_into_chips(tmp_path, product):
    chips = C.make_enmap_chips(product, tmp_path / "c", size=32, bands=E.DEFAULT_BANDS)
    ds = read_enmap_chip(chips[0])
    labels = raster(path_of(product, NAME, E.LABELS))[0]
    target = raster(path_of(product, NAME, E.TARGET))[0]
    valid = S.valid_pixels(ds["reflectance"].values)
    assert 0 < valid.sum() < valid.size
    lab = ds["label"].values
    assert lab.dtype == np.int16
    np.testing.assert_array_equal(lab[valid], labels[:32, :32][valid])
    assert (lab[~valid] == -1).all()
    assert len(np.unique(lab[valid])) >= 2
    assert ds["label"].attrs["class_names"] == [c.name for c in DEMO_CLASSES]
    np.testing.assert_array_equal(ds["target"].values[valid], target[:32, :32][valid])
    assert np.isnan(ds["target"].values[~valid]).all()
    assert ds["target"].attrs["units"] == "1" and "fraction" in ds["target"].attrs["long_name"]
    # vegetation pixels carry a high vegetation fraction (target and label agree)
    veg = valid & (lab == 0)
    if veg.any():
        assert np.median(ds["target"].values[veg]) > 0.5
    # labels=False leaves them out; labels=True without the file is an error naming it
    plain = C.make_enmap_chips(
        product, tmp_path / "d", size=32, bands=[10, 50], labels=False, target=False
    )
    ds2 = read_enmap_chip(plain[0])
    assert "label" not in ds2 and "target" not in ds2
    bare = tmp_path / "bare"
    shutil.copytree(product, bare)
    path_of(bare, NAME, E.LABELS).unlink()
    with pytest.raises(FileNotFoundError, match=r"no .*-LABELS\.TIF"):
        C.make_enmap_chips(bare, tmp_path / "e", size=32, bands=[10], labels=True)


def test_user_label_rasters_with_their_own_nodata_and_names(tmp_path, product):
    folder = tmp_path / "p"
    shutil.copytree(product, folder)
    lab_path = path_of(folder, NAME, E.LABELS)
    with rasterio.open(lab_path) as src:
        profile, lab = src.profile, src.read(1)
    user = np.where(lab < 0, 255, lab).astype(np.uint8)
    user[0:4, 20:24] = 255  # unlabelled patch inside the footprint
    profile.update(dtype="uint8", nodata=255)
    with rasterio.open(lab_path, "w", **profile) as dst:
        dst.write(user, 1)
        dst.update_tags(class_names="a, b ,c,d,e")  # comma-separated names
    ds = S.read_product(folder, bands=[20, 60])
    assert ds["label"].attrs["class_names"] == ["a", "b", "c", "d", "e"]
    assert (ds["label"].values[0:4, 20:24] == -1).all()
    valid = S.valid_pixels(ds["reflectance"].values)
    keep = valid & (user != 255)
    np.testing.assert_array_equal(ds["label"].values[keep], lab[keep])
    with rasterio.open(lab_path, "r+") as dst:
        dst.update_tags(class_names="a,b")  # too few names for the values
    with pytest.raises(E.EnmapProductError, match=r"outside -1\.\.1 \(tag class_names has 2"):
        S.read_product(folder, bands=[20])


def test_edge_tiles_and_tiles_without_valid_pixels_are_dropped(tmp_path):
    folder = demo(tmp_path, shape=(70, 80), cloud=0.0)
    out = tmp_path / "chips"
    first = C.make_enmap_chips(folder, out, size=32, bands=[20, 60])
    offsets = [(int(c.name[-13:-9]), int(c.name[-7:-3])) for c in first]
    assert offsets == [(0, 0), (0, 32), (32, 0), (32, 32)]  # rows 64-69, cols 64-79 dropped
    # cloud over the whole second tile: no valid pixel there, its chip goes (stale one removed)
    ql = path_of(folder, NAME, "QL_QUALITY_CLOUD")
    with rasterio.open(ql) as src:
        profile, cloud = src.profile, src.read()
    cloud[0, 0:32, 32:64] = 1
    with rasterio.open(ql, "w", **profile) as dst:
        dst.write(cloud)
    second = C.make_enmap_chips(folder, out, size=32, bands=[20, 60])
    assert [c.name for c in second] == [first[0].name, first[2].name, first[3].name]
    assert sorted(p.name for p in out.iterdir()) == sorted(c.name for c in second)
    with pytest.raises(ValueError, match="chip size must be > 0"):
        C.make_enmap_chips(folder, out, size=0, bands=[20])


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="module")
def chip_path(tmp_path_factory, product) -> Path:
    out = tmp_path_factory.mktemp("chips")
    return C.make_enmap_chips(product, out, size=32, bands=E.DEFAULT_BANDS)[0]


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (lambda d: d.assign_attrs(units="sr-1"), "attribute units='sr-1', expected '1'"),
        (lambda d: d.drop_attrs(deep=False).assign_attrs(sensor="EnMAP"), "attributes missing"),
        (
            lambda d: d.assign_coords(wavelength=d["wavelength"].values[::-1]),
            "strictly increasing",
        ),
        (lambda d: d.assign_coords(band=("wavelength", np.ones(202, int))), "band values"),
        (lambda d: d.assign_coords(fwhm=("wavelength", np.zeros(202))), "fwhm values"),
        (lambda d: d.drop_vars("fwhm"), "coordinate 'fwhm' is missing"),
        (lambda d: d.assign(reflectance=d["reflectance"].astype("float64")), "float32"),
        (lambda d: d.assign(label=d["label"] + 7), "label values must lie in -1..4"),
        (lambda d: d.assign_attrs(chip_row=-32), "chip_row=-32 must be an integer >= 0"),
        (lambda d: d.assign_attrs(processing_level="L1B"), "processing_level='L1B'"),
        (lambda d: d.assign(target=d["target"].drop_attrs()), "target attributes missing"),
    ],
)
def test_enmap_chip_violations_are_reported(tmp_path, chip_path, breaker, message):
    good = read_enmap_chip(chip_path)
    validate_chip(good)
    bad = breaker(good.copy())
    with pytest.raises(ChipContractError, match=re.escape(message)):
        validate_chip(bad, name="bad.nc")
    target = tmp_path / "bad.nc"
    with pytest.raises(ChipContractError, match=r"bad\.nc: not a valid chip"):
        write_chip(bad, target)
    assert not target.exists()


def test_pace_chips_keep_their_contract(chip_path):
    good = read_enmap_chip(chip_path)
    pace_like = good.rename({"reflectance": "Rrs"}).assign_attrs(sensor="PACE_OCI")
    assert chip_sensor(pace_like) == "PACE_OCI"
    with pytest.raises(ChipContractError, match="variable 'l2_flags' is missing"):
        validate_chip(pace_like)
    # a dataset naming another sensor is checked as a PACE chip, with the PACE messages
    other = good.assign_attrs(sensor="OCI")
    assert chip_sensor(other) == "PACE_OCI"
    with pytest.raises(ChipContractError, match=r"variable 'Rrs' is missing.*expected 'PACE_OCI'"):
        validate_chip(other)
    no_sensor = good.drop_attrs(deep=False)
    assert chip_sensor(no_sensor) == "EnMAP"
    # read_chip_file reads both kinds
    assert chip_path.name == f"{NAME}_r0000_c0000.nc"
    assert read_chip_file(chip_path).attrs["sensor"] == "EnMAP"


# --------------------------------------------------------------------------- files, XML


def test_missing_files_are_named(tmp_path, product):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"{empty}: no EnMAP L2A product"):
        E.find_product(empty)
    with pytest.raises(FileNotFoundError, match="not found"):
        E.find_product(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(product, broken)
    path_of(broken, NAME, "QL_QUALITY_CLOUD").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks \[.*-QL_QUALITY_CLOUD\.TIF'\]"):
        E.find_product(broken)
    # two products side by side: one must be named
    both = tmp_path / "both"
    shutil.copytree(product, both)
    for p in product.iterdir():
        shutil.copy(p, both / p.name.replace(NAME, OTHER))
    assert E.list_products(both) == [NAME, OTHER]
    with pytest.raises(E.EnmapProductError, match="holds 2 products"):
        E.find_product(both)
    found = E.find_product(both, OTHER)
    assert found.spectral_image.name == f"{OTHER}-SPECTRAL_IMAGE.TIF"
    assert set(found.quality) == set(E.QUALITY_LAYERS) and found.labels is not None


def _edit_xml(folder: Path, edit) -> Path:
    xml = path_of(folder, NAME, E.METADATA)
    tree = ET.parse(xml)
    edit(tree.getroot())
    tree.write(xml)
    return xml


def test_metadata_errors_name_the_file_and_xml_path(tmp_path, product):
    folder = tmp_path / "x"
    shutil.copytree(product, folder)

    def bad_gain(root):
        root.find("specific/bandCharacterisation/bandID[@number='5']/GainOfBand").text = "n/a"

    xml = _edit_xml(folder, bad_gain)
    with pytest.raises(
        E.EnmapProductError,
        match=re.escape(f"{xml}: specific/bandCharacterisation/bandID[@number='5']/GainOfBand"),
    ):
        E.read_metadata(xml)

    shutil.copy(product / xml.name, xml)
    _edit_xml(folder, lambda r: setattr(r.find("base/level"), "text", "L1B"))
    with pytest.raises(E.EnmapProductError, match="base/level is 'L1B', expected 'L2A'"):
        E.read_metadata(xml)

    shutil.copy(product / xml.name, xml)
    _edit_xml(folder, lambda r: r.find("base").remove(r.find("base/temporalCoverage")))
    with pytest.raises(E.EnmapProductError, match="base/temporalCoverage/startTime is missing"):
        E.read_metadata(xml)

    shutil.copy(product / xml.name, xml)

    def drop_last_band(root):
        bc = root.find("specific/bandCharacterisation")
        bc.remove(bc.findall("bandID")[-1])

    _edit_xml(folder, drop_last_band)
    with pytest.raises(E.EnmapProductError, match=r"224 raster bands, but .* describes 223"):
        S.read_product(folder, bands=[1])

    xml.write_text("<level_X><base>")
    with pytest.raises(E.EnmapProductError, match=f"{xml}: not a readable XML file"):
        E.read_metadata(xml)
