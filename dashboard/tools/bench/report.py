"""The bench's results table: one line per figure, its target and verdict; text and markdown."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Line:
    part: str
    metric: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informative, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: list[str] = field(default_factory=list)

    def add(self, part: str, metric: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.lines.append(Line(part, metric, value, target, ok))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def text(self) -> str:
        header = ("part", "metric", "measured", "target", "")
        rows = [header] + [(line.part, line.metric, line.value, line.target, line.verdict) for line in self.lines]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        out = []
        for k, row in enumerate(rows):
            out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if k == 0:
                out.append("  ".join("-" * w for w in widths).rstrip())
        out += [f"* {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = []
        if self.machine:
            out += ["Machine:", ""] + [f"- {m}" for m in self.machine] + [""]
        out += ["| part | metric | measured | target | verdict |", "|---|---|---|---|---|"]
        out += [
            f"| {line.part} | {line.metric} | {line.value} | {line.target} | {line.verdict} |" for line in self.lines
        ]
        if self.notes:
            out += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"
