"""Tiny generated EnMAP chips in the chip contract (a factory for the adapt tests) + its reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from spectm._io import write_netcdf
from spectm.adapt.chips import EnmapChips, chips_from_datasets, read_enmap_chips
from spectm.adapt.settings import AdaptConfig
from spectm.spectral.bands import enmap_bands

CLASS_NAMES = ("water", "soil", "vegetation")
WATER_VAPOUR = set(range(127, 142)) | set(range(161, 168))  # 1-based bands dropped (FACTS.md)


def enmap_band_set() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The default 202-band EnMAP subset: band numbers, centres (nm), FWHM (nm)."""
    tab = enmap_bands()
    tab = tab[~tab["band"].isin(WATER_VAPOUR)].sort_values("centre_nm")
    return (
        tab["band"].to_numpy(),
        tab["centre_nm"].to_numpy(dtype=float),
        tab["fwhm_nm"].to_numpy(dtype=float),
    )


def class_spectra(wl: np.ndarray) -> np.ndarray:
    """Smooth reflectance of the three classes, ``(3, C)`` (water, soil, vegetation)."""
    red_edge = 1.0 / (1.0 + np.exp(-(wl - 720.0) / 15.0))
    swir = np.exp(-(((wl - 1650.0) / 250.0) ** 2))
    water = 0.06 * np.exp(-(((wl - 500.0) / 80.0) ** 2)) + 0.005
    soil = 0.10 + 0.15 * (wl - 400.0) / 2100.0 + 0.08 * swir
    veg = 0.04 + 0.40 * red_edge - 0.15 * red_edge * (wl > 1400) + 0.04 * swir
    return np.stack([water, soil, veg])


def make_chip(
    scene: str, row: int, col: int, *, size: int = 32, seed: int = 0, n_nan: int = 3
) -> xr.Dataset:
    """One chip: three class blocks with seeded proportions, noise, NaN pixels, unlabelled edge."""
    rng = np.random.default_rng([seed, row, col, sum(map(ord, scene))])
    band, wl, fwhm = enmap_band_set()
    yy, xx = np.mgrid[:size, :size]
    cut1, cut2 = sorted(rng.integers(4, size - 4, size=2))
    label = np.where(xx < cut1, 0, np.where(xx < cut2, 1, 2)).astype(np.int16)  # (H, W)
    refl = class_spectra(wl)[label] * rng.uniform(0.8, 1.2)  # (H, W, C)
    refl = refl + rng.normal(0.0, 0.003, refl.shape)
    target = (label == 2).astype(float) * 2.0 + rng.normal(0.0, 0.05, label.shape)
    nan_pix = rng.choice(size * size, size=n_nan, replace=False)
    refl.reshape(-1, wl.size)[nan_pix] = np.nan
    label[0, :] = -1  # an unlabelled row
    lat = 40.0 + 0.0003 * (row * size + yy)
    lon = -83.0 + 0.0003 * (col * size + xx)
    return xr.Dataset(
        {
            "reflectance": (("y", "x", "wavelength"), refl.astype(np.float32), {"units": "1"}),
            "label": (("y", "x"), label, {"class_names": list(CLASS_NAMES)}),
            "target": (
                ("y", "x"),
                target.astype(np.float32),
                {"long_name": "vegetation cover (toy)", "units": "1"},
            ),
        },
        coords={
            "wavelength": ("wavelength", wl, {"units": "nm"}),
            "fwhm": ("wavelength", fwhm, {"units": "nm"}),
            "band": ("wavelength", band.astype(np.int32)),
            "lat": (("y", "x"), lat),
            "lon": (("y", "x"), lon),
        },
        attrs={
            "units": "1",
            "sensor": "EnMAP",
            "product": scene,
            "source_file": f"{scene}-SPECTRAL_IMAGE.TIF",
            "processing_level": "L2A",
            "chip_row": row * size,
            "chip_col": col * size,
            "time_coverage_start": "2024-07-01T10:00:00Z",
            "time_coverage_end": "2024-07-01T10:00:05Z",
            "bbox": [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())],
            "bands": "202-band subset (water-vapour bands 127-141, 161-167 dropped)",
            "spectm_demo": "generated for the spectm tests",
        },
    )


def write_chips(
    directory: Path, *, n_scenes: int = 3, per_scene: int = 2, size: int = 32
) -> list[Path]:
    """Write ``n_scenes x per_scene`` chips as NetCDF files; return their paths."""
    paths = []
    for s in range(n_scenes):
        for i in range(per_scene):
            p = directory / f"ENMAP_S{s}_r{i}c0.nc"
            write_netcdf(make_chip(f"ENMAP_S{s}", i, 0, size=size), p)
            paths.append(p)
    return paths


def memory_chips(n_scenes: int = 3, per_scene: int = 2, size: int = 32) -> EnmapChips:
    """The chips of :func:`write_chips` without the files."""
    ds = [
        make_chip(f"ENMAP_S{s}", i, 0, size=size) for s in range(n_scenes) for i in range(per_scene)
    ]
    return chips_from_datasets(ds, [f"c{i}" for i in range(len(ds))])


def tiny_config(**kw: object) -> AdaptConfig:
    """Settings of the tests: TerraMind tiny, 1 epoch, small decoder, CPU, one thread."""
    base: dict[str, object] = {
        "backbone": "terratorch_terramind_v1_tiny",
        "weights_path": None,
        "srf_target": "S2A",
        "srf_version": "4.0",
        "min_coverage": 0.95,
        "decoder_channels": 32,
        "head_hidden": 32,
        "epochs": 1,
        "patience": 1,
        "batch_size": 2,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "val_fraction": 0.2,
        "test_fraction": 0.2,
        "split_seed": 0,
        "methods": ("naive", "srf", "learned", "full_hsi"),
        "tasks": ("segmentation", "regression"),
        "seeds": (0,),
        "device": "cpu",
        "num_threads": 1,
    }
    return AdaptConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_read_chips_stacks_the_contract(tmp_path):
    paths = write_chips(tmp_path, n_scenes=3, per_scene=1)
    chips = read_enmap_chips(paths)
    assert chips.reflectance.shape == (3, 202, 32, 32)
    assert chips.reflectance.dtype == np.float32
    assert chips.class_names == CLASS_NAMES and chips.n_classes == 3
    assert list(chips.scene) == ["ENMAP_S0", "ENMAP_S1", "ENMAP_S2"]
    assert chips.demo and chips.chip_id[0] == "ENMAP_S0_r0c0"
    valid = chips.valid
    assert (~valid).sum(axis=(1, 2)).tolist() == [3, 3, 3]  # the NaN pixels
    assert (chips.label[~valid] == -1).all()  # invalid pixels are unlabelled
    with xr.open_dataset(paths[0], engine="h5netcdf") as ds:
        t = ds["target"].to_numpy()
    assert chips.target[0] == pytest.approx(t[valid[0]].mean(), rel=1e-6)


def test_bad_bands_and_empty_chips_are_dropped():
    a, b, c = (make_chip(n, 0, 0, size=16) for n in ("A", "B", "C"))
    b["reflectance"][:, :, 5] = np.nan  # a bad band of scene B: dropped from every chip
    c["reflectance"][:] = np.nan  # an empty chip: left out
    chips = chips_from_datasets([a, b, c], ["a", "b", "c"])
    assert chips.reflectance.shape[:2] == (2, 201) and chips.chip_id == ("a", "b")
    assert chips.dropped_nm == (float(a["wavelength"][5]),)
    assert chips.valid.sum() == 2 * (16 * 16 - 3)  # the dropped band invalidates no pixel


def test_label_and_target_are_optional():
    a = make_chip("A", 0, 0, size=16).drop_vars(["label", "target"])
    chips = chips_from_datasets([a], ["a"])
    assert (chips.label == -1).all() and np.isnan(chips.target).all()
    assert chips.class_names == () and chips.n_classes == 0


def test_mismatched_chips_are_refused():
    a, b = make_chip("A", 0, 0, size=16), make_chip("B", 0, 0, size=32)
    with pytest.raises(ValueError, match="size"):
        chips_from_datasets([a, b], ["a", "b"])
    with pytest.raises(ValueError, match="product"):
        chips_from_datasets([a.assign_attrs(product=None).drop_attrs()], ["a"])


def test_scenes_with_their_own_band_centres_share_the_median_grid():
    """Each scene's XML has its own centres: chips are interpolated onto the per-band median."""
    a = make_chip("A", 0, 0, size=16, n_nan=0)
    b = make_chip("B", 0, 0, size=16, n_nan=0)
    c = make_chip("C", 0, 0, size=16, n_nan=0)
    wl = a["wavelength"].to_numpy()
    fwhm_b = b["fwhm"].to_numpy() * 1.02
    b = b.assign_coords(wavelength=("wavelength", wl + 0.4), fwhm=("wavelength", fwhm_b))
    c = c.assign_coords(wavelength=("wavelength", wl - 0.2))
    chips = chips_from_datasets([a, b, c], ["a", "b", "c"])
    np.testing.assert_allclose(chips.wavelength_nm, wl)  # median of (wl, wl + 0.4, wl - 0.2)
    # chip b, sampled 0.4 nm higher, is linearly interpolated back onto wl
    rb = b["reflectance"].transpose("wavelength", "y", "x").to_numpy().astype(float)
    expect = np.stack(
        [np.interp(wl, wl + 0.4, rb[:, i, j]) for i in range(16) for j in range(16)], axis=1
    ).reshape(wl.size, 16, 16)
    np.testing.assert_allclose(chips.reflectance[1], expect, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(chips.reflectance[0], a["reflectance"].transpose(
        "wavelength", "y", "x").to_numpy())  # fmt: skip
    other = a.assign_coords(band=("wavelength", a["band"].to_numpy() + 1))
    with pytest.raises(ValueError, match="its bands differ"):
        chips_from_datasets([a, other], ["a", "other"])


def offline_empty_cache(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """An empty Hugging Face cache, and any hub download made to fail (no test may download)."""
    import huggingface_hub
    from huggingface_hub import constants

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to download from the Hugging Face hub")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    import terratorch.models.backbones.terramind.model.terramind_register as register

    monkeypatch.setattr(register, "hf_hub_download", no_download)
