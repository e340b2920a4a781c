"""An error in a configuration file that says which file, which line and what is wrong."""

from __future__ import annotations


class LocatedError(ValueError):
    """`path`, `line` (1-based or None) and `problem`; the message reads "<path>, line <n>: <problem>"."""

    # Names the file in the message when no path is known (an in-memory text).
    label = "file"

    def __init__(self, problem: str, line: int | None = None, path: str | None = None):
        self.problem = problem
        self.line = line
        self.path = path
        where = f"{path or self.label}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {problem}")
