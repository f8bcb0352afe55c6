"""Logging set-up shared by the CLI and the Snakemake scripts.

:func:`configure_logging` sends spectm's records to a rule's log file and to stderr, and installs
a ``sys.excepthook`` so that the exception that ends a job (type, message, traceback) is written
to the same log file, not only to the console (or, on a cluster, the scheduler's output).
Snakemake runs a ``script:`` as its own Python process, so the hook sees whatever the script
does not catch.

No secret reaches a log: every record (and traceback) written through these handlers has the
values of the credential variables in :data:`SECRET_VARIABLES` replaced by ``***``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

SECRET_VARIABLES: tuple[str, ...] = (
    "EARTHDATA_PASSWORD",
    "EARTHDATA_TOKEN",
    "ENMAP_PASSWORD",
    "ENMAP_TOKEN",
)
"""Environment variables whose values are masked wherever spectm logs or reports an error."""

_MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words and digits

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


def scrub_secrets(text: str) -> str:
    """Return ``text`` with the value of every set variable of :data:`SECRET_VARIABLES` masked."""
    for key in SECRET_VARIABLES:
        secret = os.environ.get(key, "")
        if len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
    return text


class _ScrubbingFormatter(logging.Formatter):
    """The usual format, with secrets from the environment masked (message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_secrets(super().format(record))


class _UncaughtToLog:
    """``sys.excepthook`` that logs the exception to the log file, then calls the previous hook.

    The previous hook (Python's default) prints the traceback to stderr; the record goes to the
    file handlers only, so the console does not show it twice.
    """

    def __init__(self, previous: ExceptHook, file_handlers: list[logging.Handler]) -> None:
        self.previous = previous
        self.file_handlers = file_handlers

    def __call__(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        record = logging.LogRecord(
            "spectm", logging.ERROR, __file__, 0,
            "the job failed: %s: %s", (exc_type.__name__, exc), (exc_type, exc, tb),
        )  # fmt: skip
        for handler in self.file_handlers:
            try:
                handler.handle(record)
                handler.flush()
            except Exception:  # the log file itself failed: stderr still gets the traceback
                pass
        if self.previous is sys.__excepthook__:
            # Python's own hook, with the same masking as the log file
            import traceback

            text = "".join(traceback.format_exception(exc_type, exc, tb))
            sys.stderr.write(scrub_secrets(text))
            sys.stderr.flush()
        else:
            self.previous(exc_type, exc, tb)


def configure_logging(log_path: str | Path | None = None, *, level: int = logging.INFO) -> None:
    """Send spectm's log records to ``log_path`` (created) and to stderr.

    Also installs a ``sys.excepthook`` that writes an uncaught exception (type, message and
    traceback) to ``log_path`` before printing it to stderr as usual, so a failed Snakemake job's
    log file holds the error that ended it. Secrets from the environment are masked in both.

    Args:
        log_path: Log file (a rule's ``log:``); ``None`` logs to stderr only.
        level: Logging level for the ``spectm`` logger.
    """
    formatter = _ScrubbingFormatter(FORMAT)
    stream: logging.Handler = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [stream]
    file_handlers: list[logging.Handler] = []
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        file_handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers + file_handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.WARNING, handlers=handlers + file_handlers, force=True)
    logging.getLogger("spectm").setLevel(level)
    previous = sys.excepthook
    while isinstance(previous, _UncaughtToLog):  # configured before: replace, do not stack
        previous = previous.previous
    sys.excepthook = _UncaughtToLog(previous, file_handlers)
