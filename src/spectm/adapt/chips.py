"""EnMAP chips in memory for the adaptation experiment: reflectance, labels, per-chip targets.

The chip contract (NetCDF-4, h5netcdf; written by the EnMAP chipper): ``reflectance``
``(y, x, wavelength)`` float32 unitless surface reflectance, NaN invalid; coordinates
``wavelength`` (nm, increasing), ``fwhm`` ``(wavelength,)`` nm and ``band`` ``(wavelength,)``;
2-D ``lat``/``lon``; optional ``label`` ``(y, x)`` int16 class index (-1 = no label; attribute
``class_names``) and ``target`` ``(y, x)`` float32; global attributes ``sensor`` (``EnMAP``),
``product`` (the scene), ``chip_row``, ``chip_col``, ``time_coverage_start`` and ``spectm_demo``
on generated chips. Files are read, and checked against the whole contract, by the one chip
reader :func:`spectm.io.chips.read_enmap_chip`; :func:`chips_from_datasets` checks only what the
experiment relies on (same bands, size and classes across chips). Every scene has its own band
centres and FWHM (they differ by a fraction of a nm): the stack uses the per-band median of all
chips and interpolates each chip onto those centres (linear, a shift of a fraction of a band).

Selected bands and valid pixels: a chip without any finite value is left out; then a band that
is NaN throughout any remaining chip (a bad band of that scene) is dropped from every chip, so
all chips share one band set; a pixel is valid when every remaining band is finite. Invalid
pixels carry label -1 (excluded from the segmentation loss and mIoU) and are left out of the
per-chip regression target, the mean of ``target`` over valid pixels with a finite target. A
chip without ``label`` is unlabelled (-1 everywhere); one without ``target`` has target NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from spectm._io import PathLike
from spectm.io.chips import read_enmap_chip

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnmapChips:
    """A set of EnMAP chips of one size and band set, stacked for training.

    Attributes:
        reflectance: Surface reflectance (unitless), ``(n, C, H, W)`` float32, NaN invalid.
        wavelength_nm: Band centres (nm), ``(C,)``, increasing.
        fwhm_nm: Band FWHM (nm), ``(C,)``.
        label: Class index, ``(n, H, W)`` int64; -1 = no label or invalid pixel.
        target: Per-chip mean of ``target`` over valid pixels, ``(n,)`` float64 (NaN: none).
        scene: Scene (``product`` attribute) of each chip, ``(n,)`` str.
        chip_id: Chip names (file stems), ``n`` of them.
        class_names: Names of the class indices of ``label``.
        demo: Whether any chip is generated demo data (``spectm_demo`` attribute).
        dropped_nm: Centres (nm) of the bands dropped (NaN throughout some chip).

    """

    reflectance: np.ndarray
    wavelength_nm: np.ndarray
    fwhm_nm: np.ndarray
    label: np.ndarray
    target: np.ndarray
    scene: np.ndarray
    chip_id: tuple[str, ...]
    class_names: tuple[str, ...]
    demo: bool
    dropped_nm: tuple[float, ...] = ()

    def __len__(self) -> int:
        return int(self.reflectance.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (from ``class_names``; else the largest label + 1)."""
        if self.class_names:
            return len(self.class_names)
        return int(self.label.max()) + 1 if self.label.size else 0

    @property
    def valid(self) -> np.ndarray:
        """Valid pixels (every band finite), ``(n, H, W)`` bool."""
        return np.asarray(np.isfinite(self.reflectance).all(axis=1))

    def subset(self, index: np.ndarray | Sequence[int]) -> EnmapChips:
        """The chips at ``index`` (same bands and classes)."""
        i = np.asarray(index, dtype=int)
        return EnmapChips(
            reflectance=self.reflectance[i],
            wavelength_nm=self.wavelength_nm,
            fwhm_nm=self.fwhm_nm,
            label=self.label[i],
            target=self.target[i],
            scene=self.scene[i],
            chip_id=tuple(self.chip_id[j] for j in i),
            class_names=self.class_names,
            demo=self.demo,
            dropped_nm=self.dropped_nm,
        )


def _class_names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        sep = "," if "," in value else None
        return tuple(s.strip() for s in value.split(sep) if s.strip())
    return tuple(str(s) for s in np.atleast_1d(np.asarray(value)))


def _same_bands(ds: xr.Dataset, first: xr.Dataset) -> bool:
    """The same EnMAP bands (by number, or by centre within 2 nm when a chip has no numbers)."""
    if "band" in ds.variables and "band" in first.variables:
        return bool(np.array_equal(ds["band"].to_numpy(), first["band"].to_numpy()))
    return bool(np.allclose(ds["wavelength"], first["wavelength"], atol=2.0))


def _onto(r: np.ndarray, own_nm: np.ndarray, grid_nm: np.ndarray) -> np.ndarray:
    """Reflectance ``(C, H, W)`` at centres ``own_nm`` linearly interpolated to ``grid_nm``.

    The two differ by a fraction of a band spacing; the end bands are held constant beyond the
    chip's own range (at most that fraction). NaN in a band reaches its interpolated neighbours.
    """
    if np.array_equal(own_nm, grid_nm):
        return r
    eye = np.eye(own_nm.size)
    w = np.stack([np.interp(grid_nm, own_nm, e) for e in eye], axis=1)  # (C_grid, C_own)
    flat = r.reshape(r.shape[0], -1)  # (C_own, H*W)
    with np.errstate(invalid="ignore"):
        out = w @ np.nan_to_num(flat)  # (C_grid, H*W)
    bad = (w != 0) @ np.isnan(flat)  # NaN sources reaching each output value
    out[bad > 0] = np.nan
    return out.reshape(grid_nm.size, *r.shape[1:]).astype(np.float32)


def chips_from_datasets(datasets: Sequence[xr.Dataset], names: Sequence[str]) -> EnmapChips:
    """Stack chip datasets (the contract above) into :class:`EnmapChips`.

    Args:
        datasets: One dataset per chip, all with the same bands and (y, x) size; their band
            centres may differ slightly (each scene has its own), see :func:`_onto`.
        names: Chip names, one per dataset (for messages and ``chip_id``).

    Returns:
        The stacked chips; empty chips and bad bands dropped (logged; see the module).

    Raises:
        ValueError: for an empty set, a missing reflectance, coordinate or ``product``, chips
            whose wavelengths, FWHM, size or class names differ, or no band left.

    """
    if not datasets:
        raise ValueError("no EnMAP chips given")
    first = datasets[0]
    refl, label, target, scene, classes = [], [], [], [], None
    centres: list[np.ndarray] = []
    widths: list[np.ndarray] = []
    for ds, name in zip(datasets, names, strict=True):
        missing = [v for v in ("reflectance",) if v not in ds.data_vars]
        missing += [c for c in ("wavelength", "fwhm") if c not in ds.variables]
        if missing:
            raise ValueError(f"chip {name}: lacks {missing}")
        if "product" not in ds.attrs:
            raise ValueError(f"chip {name}: lacks the global attribute 'product' (its scene)")
        if ds.sizes["wavelength"] != first.sizes["wavelength"] or not _same_bands(ds, first):
            raise ValueError(f"chip {name}: its bands differ from those of chip {names[0]}")
        if (ds.sizes["y"], ds.sizes["x"]) != (first.sizes["y"], first.sizes["x"]):
            raise ValueError(
                f"chip {name}: size {ds.sizes['y']}x{ds.sizes['x']} differs from chip "
                f"{names[0]} ({first.sizes['y']}x{first.sizes['x']})"
            )
        shape = (ds.sizes["y"], ds.sizes["x"])
        lab = ds["label"] if "label" in ds.data_vars else None
        names_here = () if lab is None else _class_names(lab.attrs.get("class_names"))
        if classes is None or not classes:
            classes = names_here
        elif names_here and names_here != classes:
            raise ValueError(f"chip {name}: class_names {names_here} differ from {classes}")
        r = ds["reflectance"].transpose("wavelength", "y", "x").to_numpy()  # (C, H, W)
        refl.append(r.astype(np.float32))
        centres.append(ds["wavelength"].to_numpy().astype(float))
        widths.append(ds["fwhm"].to_numpy().astype(float))
        no_label = np.full(shape, -1, dtype=np.int64)
        label.append(no_label if lab is None else lab.transpose("y", "x").to_numpy())  # (H, W)
        no_target = np.full(shape, np.nan)
        tgt = ds["target"].transpose("y", "x").to_numpy() if "target" in ds else no_target
        target.append(tgt.astype(np.float64))  # (H, W)
        scene.append(str(ds.attrs["product"]))
    # one band grid for all chips: each scene has its own centres (they differ by a fraction of
    # a nm between scenes); take the per-band median and interpolate every chip onto it
    wl = np.median(np.stack(centres), axis=0)  # (C,) nm
    fwhm = np.median(np.stack(widths), axis=0)  # (C,) nm
    x = np.stack([_onto(r, c, wl) for r, c in zip(refl, centres, strict=True)])  # (n, C, H, W)
    finite = np.asarray(np.isfinite(x).any(axis=(2, 3)))  # (n, C)
    kept = np.flatnonzero(finite.any(axis=1))  # chips with a finite value
    if kept.size < len(names):
        empty = [str(names[i]) for i in sorted(set(range(len(names))) - set(kept.tolist()))]
        logger.warning("left out %d chips without a finite value: %s", len(empty), empty)
    if not kept.size:
        raise ValueError("every chip is NaN throughout")
    keep = finite[kept].all(axis=0)  # (C,) bands finite somewhere in every kept chip
    if not keep.any():
        raise ValueError("no band is finite somewhere in every chip")
    dropped = tuple(float(v) for v in wl[~keep])
    if dropped:
        logger.warning("dropped %d bands NaN throughout some chip: %s nm", len(dropped), dropped)
    x = x[kept][:, keep]  # (n, C', H, W)
    valid = np.isfinite(x).all(axis=1)  # (n, H, W)
    y_lab = np.where(valid, np.stack(label)[kept].astype(np.int64), -1)  # (n, H, W)
    t = np.stack(target)[kept]  # (n, H, W)
    use = valid & np.isfinite(t)
    n_use = use.sum(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        t_chip = np.where(n_use > 0, np.where(use, t, 0.0).sum(axis=(1, 2)) / n_use, np.nan)
    return EnmapChips(
        reflectance=x,
        wavelength_nm=wl[keep],
        fwhm_nm=fwhm[keep],
        label=y_lab,
        target=t_chip,
        scene=np.asarray(scene, dtype=str)[kept],
        chip_id=tuple(str(names[int(i)]) for i in kept),
        class_names=classes or (),
        demo=any("spectm_demo" in ds.attrs for ds in datasets),
        dropped_nm=dropped,
    )


def read_enmap_chips(paths: Sequence[PathLike]) -> EnmapChips:
    """Read EnMAP chip files into :class:`EnmapChips`.

    Each file is read and checked against the EnMAP chip contract by the one chip reader,
    :func:`spectm.io.chips.read_enmap_chip`.

    Args:
        paths: Chip files (NetCDF-4); the chip name is the file stem.

    Returns:
        The stacked chips (see :func:`chips_from_datasets`).

    """
    datasets = [read_enmap_chip(p) for p in paths]
    return chips_from_datasets(datasets, [Path(p).stem for p in paths])
