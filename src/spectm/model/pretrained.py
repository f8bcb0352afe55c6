"""Model artefacts: a pretrained SpecTM (``model.pt``) and a deployable microcystin model.

Everything that loads, saves or runs a trained SpecTM lives here, so training, evaluation and
prediction all read one definition of the files and of their metadata (:class:`ModelMeta`).

``model.pt`` (written by pretraining): ``{"model": state_dict, "meta": ModelMeta.to_dict()}``,
with ``config.json`` (the meta) beside it. :func:`load_pretrained` loads it; :func:`embed` gives
pooled embeddings of spectra and :func:`reconstruct` predicts hidden bands, both from Rrs in sr-1
on the model's band grid.

A deployable model (written by :func:`spectm.train.deploy.train_deployable`) is one torch file::

    format            DEPLOYABLE_FORMAT
    model             SpecTM state_dict (encoder; pretraining heads kept, unused)
    meta              the pretrained model's meta (ModelMeta.to_dict())
    head              {"weight": (d_model,) tensor, "bias": () tensor}: log10 ug/L from the
                      pooled embedding (standardiser + ridge, or the fine-tuned head, folded)
    halfwidth_log10   split-conformal half-width q (log10 units; inf = not calibratable)
    alpha             miscoverage; intervals are at level 1 - alpha
    info              mode, method, horizon, training-data summary, fit settings, provenance
    envelope          DomainEnvelope.to_dict() of the training spectra (absent in files written
                      before the out-of-domain check; those load with ``envelope=None``)

A ``config.json`` beside it repeats everything except the tensors. All files hold only tensors
and plain Python values, so they load with ``weights_only=True``.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from spectm._io import PathLike, atomic_path, write_json
from spectm.model.device import resolve_device
from spectm.model.encoder import POOLINGS, SpecTM, SpecTMConfig, pool
from spectm.model.masking import window_mask

MODEL_NAME = "model.pt"
CONFIG_NAME = "config.json"
DEPLOYABLE_FORMAT = "spectm-microcystin-v1"


@dataclass(frozen=True)
class RunSummary:
    """How a pretraining run ended (stored in ``model.pt`` next to the meta).

    Attributes:
        best_val: Best validation loss (None without a validation split).
        best_step: Step of ``best_val`` (-1 before the first).
        final_step: Optimisation steps done.
        epochs_run: Epochs run.
        stopped_early: Early stopping ended the run.
        resumed_from: Steps at which the run resumed from a checkpoint.
        n_parameters: Trainable parameters.
        torch_version: torch that trained it.

    """

    best_val: float | None
    best_step: int
    final_step: int
    epochs_run: int
    stopped_early: bool
    resumed_from: list[int]
    n_parameters: int
    torch_version: str


@dataclass(frozen=True)
class ModelMeta:
    """What is needed to use pretrained weights: configuration, band grid, normalisation.

    Attributes:
        model_config: :class:`~spectm.model.encoder.SpecTMConfig` as a dict.
        pretrain_config: The pretraining settings as a dict (see ``PretrainConfig.to_dict``).
        grid: Model grid name (``paper`` or ``native``).
        wavelengths_nm: Model band grid (nm), length n_bands.
        gap_filled_nm: Grid bands interpolated across a sensor gap (nm).
        norm_mean: Per-band Rrs mean of the training split (sr-1), length n_bands.
        norm_std: Per-band Rrs standard deviation of the training split (sr-1; 1 where 0).
        index_names: Bio-optical index targets of the index head.
        index_center: Their robust centres (median).
        index_scale: Their robust scales (IQR / 1.349).
        index_tolerance_nm: Band-matching tolerance of the indices (nm).
        mask_strategy: ``targeted``, ``random`` or ``none``.
        mask_windows_nm: Diagnostic windows ``[lo, hi)`` (nm).
        corpus: ``{"path", "n_train", "n_val"}`` of the pretraining corpus.
        summary: How the run ended (in ``model.pt``; None in checkpoints).

    """

    model_config: dict[str, Any]
    pretrain_config: dict[str, Any]
    grid: str
    wavelengths_nm: list[float]
    gap_filled_nm: list[float]
    norm_mean: list[float]
    norm_std: list[float]
    index_names: list[str]
    index_center: list[float]
    index_scale: list[float]
    index_tolerance_nm: float
    mask_strategy: str
    mask_windows_nm: list[list[float]]
    corpus: dict[str, Any]
    summary: RunSummary | None = None

    @property
    def grid_nm(self) -> np.ndarray:
        """Model band grid (nm), float64, shape (n_bands,)."""
        return np.asarray(self.wavelengths_nm, dtype=float)

    def normalise(self, spectra: np.ndarray) -> np.ndarray:
        """Per-band standardised Rrs: ``(x - norm_mean) / norm_std``, shape as ``spectra``."""
        return (np.asarray(spectra, dtype=float) - np.asarray(self.norm_mean)) / np.asarray(
            self.norm_std
        )

    def denormalise(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalise` (Rrs, sr-1)."""
        return np.asarray(z) * np.asarray(self.norm_std) + np.asarray(self.norm_mean)

    def with_summary(self, summary: RunSummary) -> ModelMeta:
        """A copy carrying the run summary."""
        return ModelMeta(**{**self._fields(), "summary": summary})

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict as stored in the files (the summary's keys at the top level)."""
        d = self._fields()
        summary = d.pop("summary")
        if summary is not None:
            d.update(asdict(summary))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, what: str = "model meta") -> ModelMeta:
        """Parse the stored dict.

        Raises:
            ValueError: naming ``what`` and the missing keys.

        """
        names = [f.name for f in fields(cls) if f.name != "summary"]
        missing = [k for k in names if k not in d]
        if missing:
            raise ValueError(f"{what}: not SpecTM model metadata (missing keys {missing})")
        s_names = [f.name for f in fields(RunSummary)]
        summary = RunSummary(**{k: d[k] for k in s_names}) if all(k in d for k in s_names) else None
        return cls(**{k: d[k] for k in names}, summary=summary)


def save_model(state_dict: dict[str, Tensor], meta: ModelMeta, path: PathLike) -> Path:
    """Save final pretrained weights and their metadata atomically (``config.json`` beside it)."""
    plain = meta.to_dict()
    with atomic_path(path) as tmp:
        torch.save({"model": state_dict, "meta": plain}, tmp)
    write_json(plain, Path(path).parent / CONFIG_NAME)
    return Path(path)


_BLOCKED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _first_line(err: BaseException) -> str:
    """``Type: first sentence of the message`` (torch's messages run to several paragraphs)."""
    text = str(err).strip()
    if not text:
        return type(err).__name__
    first = text.splitlines()[0]
    return f"{type(err).__name__}: {first.split('. ')[0].rstrip('.')}"


def load_torch_file(path: PathLike, what: str) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with errors naming the file.

    Only tensors and plain Python values are ever unpickled: a file that asks for any other
    Python object (a pickle whose ``__reduce__`` calls ``os.system``, a pickled model class) is
    refused without running it.

    Args:
        path: The torch file.
        what: What it should be, for messages (``"a deployable SpecTM model"``).

    Returns:
        The loaded object.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: one line naming the file, why it cannot be loaded and what was expected
            (empty, truncated, not a torch file, or refused by the weights-only unpickler).

    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file; expected {what}")
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a directory; expected {what}")
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"{p}: the file is empty (0 bytes); expected {what}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _BLOCKED_GLOBAL.search(str(err))
        if found is not None:
            raise ValueError(
                f"{p}: refused: loading it would build the Python object {found.group(1)} (only "
                f"tensors and plain values are loaded, torch.load weights_only=True); expected "
                f"{what}"
            ) from None
        raise ValueError(  # torch's text here advises weights_only=False: not repeated
            f"{p}: not a readable torch file ({size} bytes; neither a torch archive nor a "
            f"pickle of tensors and plain values); expected {what}"
        ) from None
    except Exception as err:  # torch raises several unrelated types for a non-torch file
        raise ValueError(
            f"{p}: not a readable torch file ({size} bytes; truncated or another format? "
            f"{_first_line(err)}); expected {what}"
        ) from None


def _build(
    state: Any, meta: ModelMeta, device: str | torch.device, *, path: PathLike = "model"
) -> SpecTM:
    """The SpecTM of ``meta`` with the weights ``state``; ValueError naming ``path`` on mismatch."""
    try:
        model = SpecTM(SpecTMConfig.from_dict(meta.model_config))
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"{path}: meta.model_config {meta.model_config!r} does not describe a SpecTM "
            f"({_first_line(err)})"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: weights are a {type(state).__name__}; expected a state_dict")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as err:
        raise ValueError(
            f"{path}: the weights do not fit the model its meta describes ({_first_line(err)})"
        ) from None
    return model.to(device).eval()


_PRETRAINED_WHAT = "a pretrained SpecTM model.pt (spectm pretrain)"


def _pretrained_blob(path: PathLike) -> tuple[dict[str, Tensor], ModelMeta]:
    """State dict and metadata of a ``model.pt``; ValueError naming the file otherwise."""
    blob = load_torch_file(path, _PRETRAINED_WHAT)
    if not isinstance(blob, dict) or "model" not in blob or "meta" not in blob:
        found = sorted(map(str, blob))[:5] if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(
            f"{path} is not a SpecTM model file (found {found}); expected {_PRETRAINED_WHAT} "
            "with keys 'model' and 'meta'"
        )
    if not isinstance(blob["meta"], dict):
        raise ValueError(f"{path}: 'meta' is a {type(blob['meta']).__name__}; expected a dict")
    return blob["model"], ModelMeta.from_dict(dict(blob["meta"]), what=str(path))


def read_model_meta(path: PathLike) -> ModelMeta:
    """The metadata of a pretrained ``model.pt`` (weights not built).

    Raises:
        ValueError: naming the file if it is not a SpecTM model file.

    """
    return _pretrained_blob(path)[1]


def load_pretrained(
    path: PathLike, *, device: str | torch.device = "cpu"
) -> tuple[SpecTM, ModelMeta]:
    """Load a pretrained SpecTM (``model.pt``) in eval mode.

    Args:
        path: A ``model.pt`` written by pretraining.
        device: Where to put the model.

    Returns:
        The model and its metadata.

    Raises:
        ValueError: naming the file if it is not a SpecTM model file.

    """
    state, meta = _pretrained_blob(path)
    return _build(state, meta, device, path=path), meta


def model_inputs(
    meta: ModelMeta, spectra: np.ndarray, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor, Tensor]:
    """Encoder inputs of Rrs spectra on the model grid.

    Args:
        meta: The model's metadata.
        spectra: Rrs (sr-1) on ``meta.wavelengths_nm``, shape (n, n_bands); NaN = masked band.
        device: Where to put the tensors.

    Returns:
        Normalised spectra (n, n_bands) float32 with NaN set to 0, the mask (n, n_bands; True =
        NaN band) and the wavelengths (n_bands,) float32.

    """
    x = np.asarray(spectra, dtype=float)
    mask = ~np.isfinite(x)
    z = meta.normalise(x)  # (n, n_bands)
    return (
        torch.as_tensor(np.nan_to_num(z), dtype=torch.float32, device=device),
        torch.as_tensor(mask, device=device),
        torch.tensor(meta.wavelengths_nm, dtype=torch.float32, device=device),
    )


@torch.no_grad()
def _run(
    model: SpecTM,
    meta: ModelMeta,
    spectra: np.ndarray,
    hidden: np.ndarray | None,
    key: str,
    batch_size: int,
    pooling: str = "cls",
) -> np.ndarray:
    """One output of the model (``embedding`` or ``reconstruction``) for every spectrum.

    ``pooling`` other than ``cls`` replaces ``embedding`` by :func:`~spectm.model.encoder.pool`
    of the band tokens (``cls`` runs the unchanged forward pass).
    """
    x = np.asarray(spectra, dtype=float)
    wl = meta.grid_nm
    if x.ndim != 2 or x.shape[1] != wl.size:
        raise ValueError(
            f"spectra have shape {x.shape}; the model expects (n, {wl.size}) Rrs on its grid "
            f"{wl[0]:g}-{wl[-1]:g} nm (meta.wavelengths_nm)"
        )
    device = next(model.parameters()).device
    xt, mask, wlt = model_inputs(meta, x, device="cpu")
    if hidden is not None:
        mask |= torch.from_numpy(np.broadcast_to(np.asarray(hidden, dtype=bool), x.shape).copy())
    empty = mask.all(dim=1)
    if bool(empty.any()):
        raise ValueError(f"spectrum row {int(torch.nonzero(empty)[0])} has no visible band")
    tokens_pooled = key == "embedding" and pooling != "cls"
    window = None
    if tokens_pooled and pooling == "window":
        window = torch.from_numpy(window_mask(wl, meta.mask_windows_nm))  # (n_bands,)
        none = (~mask & window).sum(dim=1) == 0  # (n,)
        if bool(none.any()):
            raise ValueError(
                f"pooling 'window': spectrum row {int(torch.nonzero(none)[0])} has no visible "
                f"band inside the diagnostic windows {meta.mask_windows_nm} nm "
                "(meta.mask_windows_nm; hide_windows hides them all)"
            )
    model.eval()
    parts = []
    for start in range(0, xt.shape[0], batch_size):
        xb = xt[start : start + batch_size].to(device)
        mb = mask[start : start + batch_size].to(device)
        if tokens_pooled:
            cls_state, tokens = model.encode(xb, wlt.to(device), mb)  # (b, d), (b, N, d)
            parts.append(pool(cls_state, tokens, mb, pooling, window).float().cpu().numpy())
            continue
        out, _ = model(xb, wlt.to(device), mb)
        parts.append(out[key].float().cpu().numpy())
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


def embed(
    model: SpecTM,
    meta: ModelMeta,
    spectra: np.ndarray,
    *,
    pooling: str = "cls",
    hide_windows: bool = False,
    batch_size: int = 1024,
) -> np.ndarray:
    """Pooled SpecTM embeddings of spectra (eval mode, no gradients, batched).

    Args:
        model: From :func:`load_pretrained`.
        meta: Its metadata.
        spectra: Rrs (sr-1) on the model grid ``meta.wavelengths_nm``, shape (n, n_bands).
            NaN bands are treated as masked (mask token).
        pooling: One of :data:`POOLINGS`: ``cls`` (final CLS state, what the pretraining heads
            read), ``mean`` (mean of the final band tokens over the visible bands) or ``window``
            (mean of the final band tokens of the visible bands inside the diagnostic windows
            ``meta.mask_windows_nm``, the bands targeted pretraining hides; here they are
            visible unless ``hide_windows``, which leaves ``window`` nothing to pool).
        hide_windows: Also mask the diagnostic windows ``meta.mask_windows_nm`` (the input the
            targeted-pretrained encoder saw); default: every finite band is visible.
        batch_size: Spectra per forward pass.

    Returns:
        Embeddings, float32, shape (n, d_model).

    Raises:
        ValueError: on an unknown ``pooling`` (naming :data:`POOLINGS`), spectra off the model
            grid, or a spectrum with no band to pool (naming its row).

    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
    hidden = window_mask(meta.wavelengths_nm, meta.mask_windows_nm) if hide_windows else None
    out = _run(model, meta, spectra, hidden, "embedding", batch_size, pooling)
    return out.reshape(len(np.asarray(spectra)), model.cfg.d_model)


def reconstruct(
    model: SpecTM,
    meta: ModelMeta,
    spectra: np.ndarray,
    hidden: np.ndarray,
    *,
    batch_size: int = 1024,
) -> np.ndarray:
    """Reconstruct hidden bands of spectra.

    Args:
        model: From :func:`load_pretrained`.
        meta: Its metadata.
        spectra: Rrs (sr-1) on the model grid, shape (n, n_bands); values at hidden bands unused.
        hidden: Bands to mask, shape (n_bands,) or (n, n_bands), True = hidden.
        batch_size: Spectra per forward pass.

    Returns:
        Reconstructed Rrs (sr-1, de-normalised), shape (n, n_bands); meaningful at hidden bands.

    """
    z = _run(model, meta, spectra, hidden, "reconstruction", batch_size)
    return meta.denormalise(z)


# --------------------------------------------------------------------------- deployable model


@dataclass(frozen=True)
class DomainEnvelope:
    """Envelope of the spectra a deployable model was trained on, on the model grid.

    Fitted by :func:`spectm.train.deploy.fit_domain_envelope`; :func:`spectm.predict.domain_flags`
    flags spectra outside it. Per-band arrays have shape (n_grid,) and are in sr-1.

    Attributes:
        lo: Per-band lower training quantile (``quantiles[0]``).
        hi: Per-band upper training quantile (``quantiles[1]``).
        tol: Per-band tolerance added outside ``[lo, hi]``.
        median: Per-band median training spectrum (the brightness reference).
        brightness_range: ``quantiles`` of the training :meth:`brightness`.
        quantiles: The two quantile levels, e.g. ``(0.005, 0.995)``.
        max_outside_fraction: A spectrum is flagged when more than this fraction of its finite
            bands lies outside ``[lo - tol, hi + tol]``.
        brightness_margin: ... or when its brightness is outside ``brightness_range`` widened
            by this factor (``lo / margin``, ``hi * margin``).
        n: Training spectra the envelope was fitted on.

    """

    lo: list[float]
    hi: list[float]
    tol: list[float]
    median: list[float]
    brightness_range: tuple[float, float]
    quantiles: tuple[float, float]
    max_outside_fraction: float
    brightness_margin: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict as stored in the deployable file."""
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, what: str = "domain envelope") -> DomainEnvelope:
        """Parse the stored dict.

        Raises:
            ValueError: naming ``what`` and the missing keys, or per-band lists of unequal length.

        """
        names = [f.name for f in fields(cls)]
        missing = [k for k in names if k not in d]
        if missing:
            raise ValueError(f"{what}: malformed domain envelope (missing keys {missing})")
        env = cls(
            lo=[float(v) for v in d["lo"]],
            hi=[float(v) for v in d["hi"]],
            tol=[float(v) for v in d["tol"]],
            median=[float(v) for v in d["median"]],
            brightness_range=(float(d["brightness_range"][0]), float(d["brightness_range"][1])),
            quantiles=(float(d["quantiles"][0]), float(d["quantiles"][1])),
            max_outside_fraction=float(d["max_outside_fraction"]),
            brightness_margin=float(d["brightness_margin"]),
            n=int(d["n"]),
        )
        sizes = {len(env.lo), len(env.hi), len(env.tol), len(env.median)}
        if len(sizes) != 1:
            raise ValueError(f"{what}: domain envelope bands differ in length ({sorted(sizes)})")
        return env

    def brightness(self, spectra: np.ndarray) -> np.ndarray:
        """Brightness of spectra on the model grid relative to the training median, shape (n,).

        Mean Rrs over each spectrum's finite bands divided by the mean of :attr:`median` over the
        same bands (NaN for a spectrum without a finite band).
        """
        return relative_brightness(spectra, np.asarray(self.median, dtype=float))


def relative_brightness(spectra: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean Rrs over each row's finite bands / mean of ``reference`` on the same bands, (n,)."""
    x = np.asarray(spectra, dtype=float)
    finite = np.isfinite(x)
    num = np.where(finite, x, 0.0).sum(axis=1)
    den = np.where(finite, np.asarray(reference, dtype=float)[None, :], 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(finite.any(axis=1), num / den, np.nan)


@dataclass(frozen=True)
class Deployable:
    """A loaded deployable microcystin model.

    Attributes:
        model: SpecTM encoder (eval mode).
        meta: The pretrained model's metadata (grid, normalisation, ...).
        head_weight: Linear head on the pooled embedding, shape (d_model,).
        head_bias: Its intercept (log10 ug/L).
        halfwidth_log10: Conformal half-width q (log10 units); inf when not calibratable.
        alpha: Miscoverage of the interval.
        info: Mode, method, horizon, training-data summary, fit settings, provenance.
        path: The file it was loaded from.
        envelope: Envelope of the training spectra; None for files written before it existed
            (then only the physical checks of :mod:`spectm.predict` apply).

    """

    model: SpecTM
    meta: ModelMeta
    head_weight: np.ndarray
    head_bias: float
    halfwidth_log10: float
    alpha: float
    info: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()
    envelope: DomainEnvelope | None = None

    @property
    def grid_nm(self) -> np.ndarray:
        """Model band grid (nm), shape (n_grid,)."""
        return self.meta.grid_nm

    @property
    def interval_level(self) -> float:
        """Nominal coverage of the interval, ``1 - alpha``."""
        return 1.0 - self.alpha

    def predict_log10(self, spectra: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        """log10 microcystin (log10 ug/L) of spectra on the model grid.

        Args:
            spectra: Rrs (sr-1) on :attr:`grid_nm`, shape (n, n_grid); NaN bands are masked.
            batch_size: Spectra per forward pass.

        Returns:
            Predictions, shape (n,), clipped to the training target range
            (``info["training"]["log10_microcystin_range"]``, when the file records it), as
            every evaluated model is (:meth:`spectm.evaluate.baselines.CellFit.predict`).

        """
        z = embed(self.model, self.meta, spectra, batch_size=batch_size)  # (n, d_model)
        pred = z.astype(float) @ self.head_weight + self.head_bias
        lo, hi = self.info.get("training", {}).get("log10_microcystin_range", (-np.inf, np.inf))
        return np.clip(pred, lo, hi)


def plain(value: Any) -> Any:
    """Numpy scalars/arrays to Python values, recursively (for weights_only files and JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_safe(value: Any) -> Any:
    """Non-finite floats to None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_deployable(
    path: PathLike,
    *,
    model_state: dict[str, Tensor],
    meta: ModelMeta,
    head_weight: np.ndarray,
    head_bias: float,
    halfwidth_log10: float,
    alpha: float,
    info: dict[str, Any],
    envelope: DomainEnvelope | None = None,
) -> Path:
    """Write a deployable model atomically, and ``config.json`` (no tensors) beside it.

    Args:
        path: Output ``.pt`` file.
        model_state: SpecTM state_dict.
        meta: Pretrained model metadata.
        head_weight: Head weights, shape (d_model,).
        head_bias: Head intercept (log10 ug/L).
        halfwidth_log10: Conformal half-width (log10 units).
        alpha: Miscoverage.
        info: Mode, method, training summary, fit settings, provenance (plain values).
        envelope: Envelope of the training spectra on the model grid (None: not stored).

    Returns:
        ``path``.

    """
    blob: dict[str, Any] = {
        "format": DEPLOYABLE_FORMAT,
        "model": {k: v.detach().cpu() for k, v in model_state.items()},
        "meta": plain(meta.to_dict()),
        "head": {
            "weight": torch.as_tensor(np.asarray(head_weight, dtype=np.float64)),
            "bias": torch.tensor(float(head_bias), dtype=torch.float64),
        },
        "halfwidth_log10": float(halfwidth_log10),
        "alpha": float(alpha),
        "info": plain(info),
    }
    if envelope is not None:
        if len(envelope.lo) != len(meta.wavelengths_nm):
            raise ValueError(
                f"{path}: domain envelope has {len(envelope.lo)} bands, the model grid "
                f"{len(meta.wavelengths_nm)}"
            )
        blob["envelope"] = envelope.to_dict()
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    summary = {k: v for k, v in blob.items() if k not in ("model", "head")}
    summary["head"] = {"d_model": int(np.asarray(head_weight).size), "bias": float(head_bias)}
    write_json(_json_safe(summary), Path(path).parent / CONFIG_NAME)
    return Path(path)


_DEPLOYABLE_KEYS = ("model", "meta", "head", "halfwidth_log10", "alpha", "info")


def load_deployable(path: PathLike, *, device: str = "cpu") -> Deployable:
    """Load a deployable model written by :func:`save_deployable`.

    Args:
        path: The ``.pt`` file.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.

    Raises:
        ValueError: naming the file if it is not a deployable SpecTM microcystin model.

    """
    blob = load_torch_file(path, f"a deployable SpecTM microcystin model ({DEPLOYABLE_FORMAT})")
    if not isinstance(blob, dict) or blob.get("format") != DEPLOYABLE_FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        pretrained = isinstance(blob, dict) and "meta" in blob
        hint = " (a pretrained model.pt? train one with train_deployable)" if pretrained else ""
        raise ValueError(
            f"{path} is not a deployable SpecTM microcystin model: format {found!r}, "
            f"expected {DEPLOYABLE_FORMAT!r}{hint}"
        )
    missing = [k for k in _DEPLOYABLE_KEYS if k not in blob]
    head = blob.get("head")
    if not missing and not (isinstance(head, dict) and {"weight", "bias"} <= set(head)):
        missing = ["head.weight", "head.bias"]
    if missing:
        raise ValueError(
            f"{path}: deployable model file lacks {missing}; expected a file written by "
            "spectm.train.deploy.train_deployable"
        )
    meta = ModelMeta.from_dict(dict(blob["meta"]), what=str(path))
    envelope = None
    if blob.get("envelope") is not None:
        envelope = DomainEnvelope.from_dict(dict(blob["envelope"]), what=str(path))
        if len(envelope.lo) != len(meta.wavelengths_nm):
            raise ValueError(
                f"{path}: domain envelope has {len(envelope.lo)} bands, the model grid "
                f"{len(meta.wavelengths_nm)}"
            )
    return Deployable(
        model=_build(blob["model"], meta, resolve_device(device), path=path),
        meta=meta,
        head_weight=blob["head"]["weight"].numpy().astype(float),
        head_bias=float(blob["head"]["bias"]),
        halfwidth_log10=float(blob["halfwidth_log10"]),
        alpha=float(blob["alpha"]),
        info=dict(blob["info"]),
        path=Path(path),
        envelope=envelope,
    )
