"""Pretraining steady state: SpecTM's training step against a plain ``nn.TransformerEncoder``.

    python bench/bench_pretrain_vs_plain.py [CORPUS.parquet] [--preset paper] [--batch-size 64]
        [--steps 20] [--threads N] [--repeat 5] [--smoke]

Both sides train for ``--steps`` steps after ``--warmup`` untimed ones, ``--repeat`` times, in
this process, with the same torch threads; the median samples/s is reported.

* SpecTM: the real step of ``spectm.train.pretrain`` (``_batch_mask``, ``_losses``,
  ``_train_step``: targeted masks, the three heads and the multi-task loss, gradient clipping,
  AdamW, the losses read back as floats every step) on batches of the corpus.
* plain: ``torch.nn.TransformerEncoder`` of the same size (layers, width, heads, MLP ratio,
  pre-norm, GELU, no dropout, batch first) on the same number of tokens (bands + 1), with a
  ``Linear(1, d)`` value embedding, a ``Linear(d, 1)`` output and an MSE loss on random data,
  AdamW, no clipping: the least a training step of that size must do.

Without a corpus, one is built from two replay granules (128 x 112 pixels, as the demo) through
the real chip and corpus code, on the paper grid. Goal (issue 12, CPU): SpecTM >= 1.3 x the plain
encoder.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from common import header, parser, result
from torch import nn

from spectm.config import read_config
from spectm.io.corpus import read_corpus
from spectm.model.device import torch_threads
from spectm.train.pretrain import (
    PretrainConfig,
    _batch_mask,
    _build,
    _losses,
    _train_step,
    prepare_data,
)


def demo_corpus(tmp: Path) -> Path:
    from spectm.io.corpus import write_corpus
    from spectm.io.pace_l2 import NASA_MATCHUP_EXCLUDE, make_chip
    from spectm.sources.pace.replay import demo_granules, write_demo_granule
    from spectm.train.corpus import build_corpus

    conf = read_config()
    chips = []
    for g in demo_granules()["granule"].iloc[:2]:
        granule = write_demo_granule(
            str(g), tmp, shape=(128, 112), pixel_km=1.2, seed=0, cloud_fraction=0.1
        )
        chips.append(
            make_chip(granule, tmp / f"chip_{len(chips)}.nc", bbox=conf.aoi_bbox,
                      exclude_flags=NASA_MATCHUP_EXCLUDE)
        )  # fmt: skip
    df = build_corpus(chips, grid="paper", max_pixels=4000, val_fraction=0.2, seed=0)
    return write_corpus(df, tmp / "corpus.parquet")


def spectm_step(corpus: Path, preset: str, batch: int, device: torch.device):
    conf = read_config()
    cfg = PretrainConfig.from_sections(
        replace(conf.model, preset=preset),
        {**conf.pretrain.to_dict(), "batch_size": batch},
        strategy="targeted",
        seed=0,
        device=str(device),
    )
    train, _, meta = prepare_data(read_corpus(corpus), cfg, str(corpus))
    model, opt = _build(meta, cfg, device)
    model.train()
    eligible = ~np.isin(meta.wavelengths_nm, meta.gap_filled_nm)
    wl = torch.tensor(meta.wavelengths_nm, dtype=torch.float32, device=device)
    state = {"b": 0}

    def step() -> None:
        b = state["b"]
        state["b"] += 1
        rows = torch.randint(0, len(train), (batch,), generator=torch.Generator().manual_seed(b))
        mask = _batch_mask(meta, batch, [0, 2, 0, b], eligible)
        _train_step(model, opt, _losses(model, train, rows, mask, wl, device), cfg.grad_clip)

    n_tokens = len(meta.wavelengths_nm) + 1
    return step, model.cfg, n_tokens


def plain_step(mcfg, n_tokens: int, batch: int, device: torch.device):
    torch.manual_seed(0)
    d = mcfg.d_model
    layer = nn.TransformerEncoderLayer(
        d, mcfg.n_heads, int(mcfg.mlp_ratio * d), dropout=0.0, activation="gelu",
        batch_first=True, norm_first=True,
    )  # fmt: skip
    embed, head = nn.Linear(1, d), nn.Linear(d, 1)
    encoder = nn.TransformerEncoder(layer, mcfg.n_layers, enable_nested_tensor=False)
    model = nn.ModuleList([embed, encoder, head]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, n_tokens, 1, device=device)
    y = torch.randn(batch, n_tokens, 1, device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(head(encoder(embed(x))), y)
        loss.backward()
        opt.step()

    return step


def samples_per_s(step, steps: int, warmup: int, repeat: int, batch: int) -> float:
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("corpus", nargs="?", type=Path)
    p.add_argument("--preset", default="paper", choices=["tiny", "small", "paper"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    if a.smoke:
        a.preset, a.batch_size, a.steps, a.warmup, a.repeat = "tiny", 8, 2, 1, 1
    header()
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp, torch_threads(a.threads):
        corpus = a.corpus or demo_corpus(Path(tmp))
        ours, mcfg, n_tokens = spectm_step(corpus, a.preset, a.batch_size, device)
        plain = plain_step(mcfg, n_tokens, a.batch_size, device)
        print(f"preset {a.preset}: {mcfg.n_layers} layers, d={mcfg.d_model}, {mcfg.n_heads} heads, "
              f"{n_tokens} tokens, batch {a.batch_size}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}")  # fmt: skip
        # alternate the two sides so that a change in machine load hits both
        r_ours, r_plain = [], []
        for _ in range(a.repeat):
            r_ours.append(samples_per_s(ours, a.steps, a.warmup, 1, a.batch_size))
            r_plain.append(samples_per_s(plain, a.steps, a.warmup, 1, a.batch_size))
    ours_rate, plain_rate = statistics.median(r_ours), statistics.median(r_plain)
    print(f"  SpecTM step: {ours_rate:.1f} spectra/s; plain TransformerEncoder: "
          f"{plain_rate:.1f} spectra/s (medians of {a.repeat} x {a.steps} steps)")  # fmt: skip
    result("pretrain_vs_plain_encoder_cpu", ours_rate / plain_rate, 1.3)


if __name__ == "__main__":
    main()
