"""The bridge's exceptions."""

from __future__ import annotations


class Rejected(ValueError):
    """A message breaks the telemetry contract. `code` is stable (for counting), `detail` says where."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
