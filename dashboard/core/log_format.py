"""How every program logs: one line per record on stderr, timestamped, named, and without terminal
colour codes when stderr is not a terminal (werkzeug colours its lines; in a file or a journal the codes
are noise)."""

from __future__ import annotations

import logging
import re
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class PlainFormatter(logging.Formatter):
    """The log line with any terminal colour codes taken out."""

    def format(self, record: logging.LogRecord) -> str:
        return _ANSI.sub("", super().format(record))


def configure_logging(level: str) -> None:
    """The root logger at `level`, writing to stderr; colour codes kept only for a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT) if sys.stderr.isatty() else PlainFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
