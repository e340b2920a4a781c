"""Log lines in a file or a journal carry no terminal colour codes (werkzeug colours its own)."""

from __future__ import annotations

import logging

from dashboard.core.log_format import FORMAT, PlainFormatter


def test_colour_codes_are_taken_out_of_a_log_line():
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, "\x1b[31m\x1b[1mWARNING: This is a development server.\x1b[0m", (), None
    )
    line = PlainFormatter(FORMAT).format(record)
    assert "\x1b" not in line and line.endswith("INFO werkzeug: WARNING: This is a development server.")
