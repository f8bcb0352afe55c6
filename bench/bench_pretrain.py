"""Pretraining throughput: steps/s and spectra/s of SpecTM on a corpus, any preset and device.

    python bench/bench_pretrain.py CORPUS.parquet --preset paper --device cuda --steps 300

Runs the real `spectm.train.pretrain.pretrain` loop (AdamW, bf16 autocast on CUDA, checkpoints)
for a fixed number of steps in a temporary directory and prints the timing. Not a test.

With ``--peak-tflops`` (the accelerator's dense peak for the training precision, e.g. bf16) it
also prints the model FLOPs utilisation, counting 6 x parameters x tokens per spectrum (forward
and backward of the dense layers; attention's own FLOPs are left out, so MFU is a lower bound);
on CUDA it prints the peak allocated memory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from spectm.config import read_config
from spectm.train.pretrain import PretrainConfig, pretrain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--preset", default="paper", choices=["tiny", "small", "paper"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--strategy", default="targeted", choices=["targeted", "random", "none"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=None, help="for the MFU line")
    a = ap.parse_args()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        conf = read_config()
        model = replace(conf.model, preset=a.preset)
        section = replace(
            conf.pretrain,
            batch_size=a.batch_size,
            max_epochs=10_000,
            checkpoint_every=max(a.steps // 2, 1),
        )
        cfg = PretrainConfig.from_sections(
            model,
            section,
            strategy=a.strategy,
            seed=conf.pretrain.seeds[0],
            device=a.device,
            max_steps=a.steps,
            num_threads=a.threads,
            progress=False,
        )
        t0 = time.perf_counter()
        model = pretrain(a.corpus, Path(tmp), cfg)
        dt = time.perf_counter() - t0
        losses = pd.read_csv(Path(tmp) / "losses.csv")
        meta = torch.load(model, map_location="cpu", weights_only=True)["meta"]
        tokens = len(meta["wavelengths_nm"]) + 1  # one token per band + CLS
    train = losses[losses["split"] == "train"]
    val = losses[losses["split"] == "val"]
    print(
        f"preset={a.preset} params={meta['n_parameters']} device={a.device} "
        f"torch={torch.__version__}"
    )
    print(
        f"{len(train)} steps x batch {a.batch_size} in {dt:.1f} s (incl. validation, "
        f"checkpoints, start-up): {len(train) / dt:.1f} steps/s, "
        f"{len(train) * a.batch_size / dt:.0f} spectra/s"
    )
    print(
        f"train loss first/last: {train['total'].iloc[0]:.4f} / {train['total'].iloc[-1]:.4f}; "
        f"val total last: {val['total'].iloc[-1] if len(val) else float('nan'):.4f}"
    )
    if a.peak_tflops:
        flops = 6.0 * meta["n_parameters"] * tokens * len(train) * a.batch_size / dt
        print(f"MFU (dense layers, {tokens} tokens/spectrum): {flops / (a.peak_tflops * 1e12):.2%}")
    if torch.cuda.is_available():
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
