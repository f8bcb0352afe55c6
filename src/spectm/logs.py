"""Logging set-up shared by the CLI and the Snakemake scripts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_path: str | Path | None = None, *, level: int = logging.INFO) -> None:
    """Send spectm's log records to ``log_path`` (created) and to stderr.

    Args:
        log_path: Log file (a rule's ``log:``); ``None`` logs to stderr only.
        level: Logging level for the ``spectm`` logger.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.WARNING, format=FORMAT, handlers=handlers, force=True)
    logging.getLogger("spectm").setLevel(level)
