"""SpecTM pretraining: corpus, device choice, checkpoints, the training loop and model loading."""

from spectm.train.checkpoint import embed, load_pretrained, reconstruct
from spectm.train.corpus import build_corpus, read_corpus, write_corpus
from spectm.train.device import resolve_device
from spectm.train.pretrain import PretrainConfig, pretrain

__all__ = [
    "PretrainConfig",
    "build_corpus",
    "embed",
    "load_pretrained",
    "pretrain",
    "read_corpus",
    "reconstruct",
    "resolve_device",
    "write_corpus",
]
