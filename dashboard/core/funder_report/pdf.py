"""The funder report laid out as a PDF (reportlab): cover, KPIs against the previous period, daily charts,
incidents and alerts, radio conditions, data quality and the definitions used."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dashboard.core.funder_report import charts
from dashboard.core.funder_report.data import KpiResult, ReportData
from dashboard.core.kpis.arithmetic import COMMON_KPIS, change_pct
from dashboard.core.kpis.daily_rows import days_between
from dashboard.core.opendata.definitions import describe
from dashboard.core.trials import Kpi

INK = colors.HexColor("#0f172a")
MUTED = colors.HexColor("#475569")
RULE = colors.HexColor("#cbd5e1")
HEAD = colors.HexColor("#e2e8f0")
GOOD = colors.HexColor("#15803d")
BAD = colors.HexColor("#b91c1c")
WIDTH = A4[0] - 36 * mm  # text width between the margins
CHART_HEIGHT = WIDTH * 2.6 / 7.0

_base = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_base["Title"], fontSize=30, leading=36, alignment=TA_LEFT, textColor=INK),
    "subtitle": ParagraphStyle("subtitle", parent=_base["Normal"], fontSize=15, leading=20, textColor=MUTED),
    "h1": ParagraphStyle("h1", parent=_base["Heading1"], fontSize=17, leading=21, textColor=INK, spaceBefore=4),
    "h2": ParagraphStyle("h2", parent=_base["Heading2"], fontSize=12, leading=15, textColor=INK),
    "body": ParagraphStyle("body", parent=_base["Normal"], fontSize=9.5, leading=13, textColor=INK),
    "small": ParagraphStyle("small", parent=_base["Normal"], fontSize=8, leading=10.5, textColor=MUTED),
    "cell": ParagraphStyle("cell", parent=_base["Normal"], fontSize=8, leading=10, textColor=INK),
    "big": ParagraphStyle("big", parent=_base["Normal"], fontSize=22, leading=26, textColor=INK),
}


# --- words and numbers -----------------------------------------------------------------------------
def number(value, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:,.{digits}f}"
    if not unit:
        return text
    return text + unit if unit == "%" else f"{text} {unit}"


def duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def day_span(first: date, last: date) -> str:
    days = (last - first).days + 1
    return f"{first:%d %b %Y} to {last:%d %b %Y} ({days} day{'s' if days != 1 else ''}, UTC)"


def _change(kpi: Kpi, now, before) -> tuple[str, colors.Color]:
    pct = change_pct(now, before)
    if pct is None:
        return "-", MUTED
    better = kpi.higher_is_better
    colour = MUTED if better is None or abs(pct) < 0.05 else (GOOD if (pct > 0) == better else BAD)
    return f"{pct:+.1f} %", colour


def _p(text: str, style: str = "cell") -> Paragraph:
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(escaped, STYLES[style])


def _table(rows: list[list], widths: list[float], extra: list | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), HEAD),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                *(extra or []),
            ]
        )
    )
    return table


def _chart(png: bytes) -> Image:
    return Image(io.BytesIO(png), width=WIDTH, height=CHART_HEIGHT, kind="proportional")


# --- sections --------------------------------------------------------------------------------------
def _scalar_kpis(result: KpiResult) -> list[Kpi]:
    own = [k for k in result.trial.kpis if k.scalar]
    return sorted(own, key=lambda k: not k.card) + list(COMMON_KPIS)


def _cover(data: ReportData) -> list:
    trial = data.trial
    headline = [k for k in _scalar_kpis(data.kpis) if k.card][:4]
    tiles = [
        [_p(k.label, "small") for k in headline],
        [Paragraph(number(data.kpis.now.get(k.key), k.digits, k.unit), STYLES["big"]) for k in headline],
        [_p(f"previous: {number(data.kpis.before.get(k.key), k.digits, k.unit)}", "small") for k in headline],
    ]
    story = [
        Spacer(1, 30 * mm),
        Paragraph(f"{trial.name}", STYLES["title"]),
        Paragraph("Trial report for funders", STYLES["subtitle"]),
        Spacer(1, 8 * mm),
        Paragraph(day_span(data.first, data.last), STYLES["h2"]),
        Paragraph(
            f"compared with the previous period, {day_span(data.previous_first, data.previous_last)}", STYLES["body"]
        ),
        Spacer(1, 8 * mm),
        _p(trial.description, "body"),
        Spacer(1, 12 * mm),
    ]
    if headline:
        table = Table(tiles, colWidths=[WIDTH / len(headline)] * len(headline), hAlign="LEFT")
        table.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, 0), 2, INK), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(table)
    generated = datetime.fromtimestamp(data.generated_at, UTC)
    story += [
        Spacer(1, 40 * mm),
        _p(
            f"Milton Keynes smart-city control room. Generated {generated:%d %b %Y %H:%M} UTC from the trial's stored telemetry.",
            "small",
        ),
        _p("Definitions of every figure are on the last page.", "small"),
        PageBreak(),
    ]
    return story


def _kpi_rows(result: KpiResult) -> list[list]:
    rows: list[list] = [["KPI", "This period", "Previous period", "Change"]]
    for kpi in _scalar_kpis(result):
        now, before = result.now.get(kpi.key), result.before.get(kpi.key)
        text, colour = _change(kpi, now, before)
        rows.append(
            [
                _p(kpi.label),
                number(now, kpi.digits, kpi.unit),
                number(before, kpi.digits, kpi.unit),
                Paragraph(f'<font color="{colour.hexval()}">{text}</font>', STYLES["cell"]),
            ]
        )
    return rows


def _headline(data: ReportData) -> list:
    widths = [WIDTH * 0.46, WIDTH * 0.19, WIDTH * 0.19, WIDTH * 0.16]
    return [
        Paragraph("1. Headline KPIs against the previous period", STYLES["h1"]),
        _p(
            "Green: better than the previous period; red: worse (for KPIs where more is better or worse). "
            "A dash: nothing to compare.",
            "small",
        ),
        Spacer(1, 3 * mm),
        _table(_kpi_rows(data.kpis), widths, [("ALIGN", (1, 0), (-1, -1), "RIGHT")]),
    ]


def _series(data: ReportData, daily, keys: list[str]) -> tuple[list[str], dict[str, list]]:
    """Each key's value on every day of the period (None where a day has no data)."""
    days = [d.isoformat() for d in days_between(data.first, data.last)]
    by_day = {str(r["day"]): r for r in daily.to_dict("records")} if len(daily) else {}

    def value(day: str, key: str):
        found = by_day.get(day, {}).get(key)
        return None if found is None or (isinstance(found, float) and math.isnan(found)) else float(found)

    return days, {key: [value(day, key) for day in days] for key in keys}


def _daily(data: ReportData) -> list:
    trial, daily = data.trial, data.kpis.daily
    story: list = [Spacer(1, 6 * mm), Paragraph("2. Day by day", STYLES["h1"])]
    pictures = []
    for chart in trial.kpi_page.charts:
        days, values = _series(data, daily, [key for _, key in chart.series])
        named = {label: values[key] for label, key in chart.series}
        pictures.append(_chart(charts.daily_bars(chart.title, days, named, chart.stacked)))
    days, messages = _series(data, daily, ["e2e_p95"])
    pictures.append(
        _chart(charts.daily_lines("End-to-end latency p95 (device to store)", days, {"p95": messages["e2e_p95"]}, "s"))
    )
    story += pictures
    for kpi in trial.kpis:
        counts = data.kpis.now.get(kpi.key)
        if kpi.kind == "breakdown" and isinstance(counts, dict) and counts:
            rows: list[list] = [[kpi.label, "Count"], *[[_p(name), number(n, 0)] for name, n in counts.items()]]
            story.append(
                KeepTogether(
                    [
                        Spacer(1, 3 * mm),
                        _table(rows, [WIDTH * 0.6, WIDTH * 0.15], [("ALIGN", (1, 0), (-1, -1), "RIGHT")]),
                    ]
                )
            )
    if len(data.assets) and trial.kpi_page.asset_table:
        columns = trial.kpi_page.asset_table
        header = ["Asset", "Days", *[c.heading for c in columns], "Messages"]
        rows = [[_p(h) for h in header]]
        for record in data.assets.head(40).to_dict("records"):
            rows.append(
                [
                    str(record["asset_id"]),
                    number(record.get("days"), 0),
                    *[number(record.get(c.column), c.digits) for c in columns],
                    number(record.get("messages"), 0),
                ]
            )
        width = WIDTH / len(header)
        story += [
            Spacer(1, 4 * mm),
            KeepTogether(
                [
                    Paragraph("Per asset", STYLES["h2"]),
                    _table(rows, [width] * len(header), [("ALIGN", (1, 0), (-1, -1), "RIGHT")]),
                ]
            ),
        ]
    return story


def _alerts(data: ReportData) -> list:
    alerts = data.alerts
    t, p = alerts.times, alerts.previous
    summary = [
        ["", "This period", "Previous period"],
        ["Alerts raised", number(t.alerts, 0), number(p.alerts, 0)],
        ["Acknowledged by an operator", number(t.acknowledged, 0), number(p.acknowledged, 0)],
        ["Mean time to acknowledge", duration(t.mean_to_ack_s), duration(p.mean_to_ack_s)],
        ["Condition cleared", number(t.cleared, 0), number(p.cleared, 0)],
        ["Mean time to clear", duration(t.mean_to_clear_s), duration(p.mean_to_clear_s)],
    ]
    story: list = [
        PageBreak(),
        Paragraph("3. Incidents and alerts", STYLES["h1"]),
        _p(
            "Alerts are raised by the control room's rules; response times run from the moment an alert is raised.",
            "small",
        ),
        Spacer(1, 3 * mm),
        _table(summary, [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25], [("ALIGN", (1, 0), (-1, -1), "RIGHT")]),
        Spacer(1, 5 * mm),
    ]
    if alerts.by_rule:
        rows: list[list] = [["Alert", "Severity", "Count", "Mean to ack.", "Mean to clear"]]
        rows += [
            [
                _p(r["title"]),
                r["severity"],
                number(r["count"], 0),
                duration(r["mean_to_ack_s"]),
                duration(r["mean_to_clear_s"]),
            ]
            for r in alerts.by_rule
        ]
        story += [
            Paragraph("By rule", STYLES["h2"]),
            _table(
                rows,
                [WIDTH * 0.44, WIDTH * 0.14, WIDTH * 0.12, WIDTH * 0.15, WIDTH * 0.15],
                [("ALIGN", (2, 0), (-1, -1), "RIGHT")],
            ),
        ]
    else:
        story.append(_p("No alert was raised for this trial in the period.", "body"))
    if alerts.incidents:
        rows = [["Raised (UTC)", "Severity", "Alert", "Asset", "To ack.", "To clear"]]
        rows += [
            [
                f"{datetime.fromtimestamp(r['raised_at'], UTC):%d %b %H:%M}",
                r["severity"],
                _p(r["title"]),
                _p(r["asset_id"]),
                duration(r["to_ack_s"]),
                duration(r["to_clear_s"]),
            ]
            for r in alerts.incidents
        ]
        story += [
            Spacer(1, 5 * mm),
            Paragraph("Most severe incidents", STYLES["h2"]),
            _table(rows, [WIDTH * 0.15, WIDTH * 0.11, WIDTH * 0.36, WIDTH * 0.14, WIDTH * 0.12, WIDTH * 0.12]),
        ]
    return story


def _radio(data: ReportData) -> list:
    story: list = [PageBreak(), Paragraph("4. Radio conditions", STYLES["h1"])]
    radio = data.radio
    if radio is None:
        return [*story, _p("No 5G network trial is configured, so there are no radio measurements.", "body")]
    story += [
        _p(f"Measured by the {radio.trial.name} network's cells over the same period.", "small"),
        Spacer(1, 3 * mm),
        _table(
            _kpi_rows(radio),
            [WIDTH * 0.46, WIDTH * 0.19, WIDTH * 0.19, WIDTH * 0.16],
            [("ALIGN", (1, 0), (-1, -1), "RIGHT")],
        ),
        Spacer(1, 4 * mm),
    ]
    quantiles = [k for k in radio.trial.kpis if k.kind == "quantile"]
    by_unit: dict[str, list[Kpi]] = {}
    for kpi in quantiles:
        by_unit.setdefault(kpi.unit, []).append(kpi)
    for unit, kpis in by_unit.items():
        days, values = _series(data, radio.daily, [k.key for k in kpis])
        title = kpis[0].label if len(kpis) == 1 else f"Per day, {unit}"
        story.append(_chart(charts.daily_lines(title, days, {k.label: values[k.key] for k in kpis}, unit)))
    for kpi in radio.trial.kpis:
        counts = radio.now.get(kpi.key)
        if kpi.kind == "histogram" and isinstance(counts, dict) and sum(counts.values()):
            story.append(_chart(charts.bands(kpi.label, counts)))
    return story


def _quality(data: ReportData) -> list:
    q = data.quality
    total = int(q.days["messages"].sum()) if len(q.days) else 0
    coverage = q.days["coverage_pct"].dropna()
    gaps = float(q.days["silent_min"].sum()) if len(q.days) else 0.0
    rows: list[list] = [["Day (UTC)", "Messages", "Assets reporting", "Gaps (silent asset-min.)", "Coverage"]]
    rows += [
        [
            r["day"],
            number(r["messages"], 0),
            number(r["assets"], 0),
            number(r["silent_min"], 0),
            number(r["coverage_pct"], 1, "%"),
        ]
        for r in q.days.to_dict("records")
    ]
    days = list(q.days["day"]) if len(q.days) else []
    story: list = [
        PageBreak(),
        Paragraph("5. Data quality", STYLES["h1"]),
        _p(
            f"{number(total, 0)} messages stored in the period (previous period: {number(q.previous_messages, 0)}); "
            f"gaps: {number(gaps, 0)} asset-minutes without a message; "
            f"mean coverage {number(coverage.mean() if len(coverage) else None, 1, '%')}.",
            "body",
        ),
        Spacer(1, 3 * mm),
        _chart(
            charts.daily_bars(
                "Messages stored per day", days, {"messages": list(q.days["messages"]) if len(q.days) else []}, False
            )
        ),
        _table(rows, [WIDTH * 0.2] * 5, [("ALIGN", (1, 0), (-1, -1), "RIGHT")]),
        Spacer(1, 5 * mm),
        Paragraph("Rejected messages (dead letters)", STYLES["h2"]),
    ]
    if q.dead_letters:
        dead = [["Reason", "Messages"], *[[code, number(n, 0)] for code, n in q.dead_letters]]
        story.append(_table(dead, [WIDTH * 0.5, WIDTH * 0.2], [("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
    else:
        story.append(_p("None: every message the trial's devices sent in the period met the contract.", "body"))
    return story


def _definitions(data: ReportData) -> list:
    kpis = _scalar_kpis(data.kpis) + [k for k in data.trial.kpis if not k.scalar]
    if data.radio is not None and data.radio.trial.id != data.trial.id:
        kpis += [k for k in data.radio.trial.kpis if k.scalar]
    rows: list[list] = [["Figure", "Unit", "Definition"]]
    seen = set()
    for kpi in kpis:
        if (kpi.trial, kpi.key) in seen:
            continue
        seen.add((kpi.trial, kpi.key))
        rows.append([_p(kpi.label), _p(kpi.unit), _p(describe(kpi))])
    notes = [
        "Days are UTC. The previous period is the same number of days just before the report's period.",
        "A gap of more than 120 s between two samples of one asset is an outage: no distance, boardings or "
        "flight time is counted across it.",
        "A percentile over several days is the sample-weighted mean of the daily percentiles (exact for one day).",
        "Coverage: minutes in which an asset sent at least one message, over assets reporting that day x minutes "
        "of the day (up to now for today). Gaps: the asset-minutes missing from that (an asset silent all day is "
        "not counted: it did not report).",
        "Dead letters: messages on the trial's topics that the control room refused (malformed, out of range, "
        "too fast), by reason; kept for the store's retention period.",
        "Response times run from when an alert is raised to when an operator acknowledges it, and to when its "
        "condition clears.",
    ]
    return [
        PageBreak(),
        Paragraph("6. Definitions", STYLES["h1"]),
        _table(rows, [WIDTH * 0.3, WIDTH * 0.1, WIDTH * 0.6]),
        Spacer(1, 5 * mm),
        *[_p(note, "body") for note in notes],
    ]


def build(data: ReportData) -> bytes:
    out = io.BytesIO()
    title = f"{data.trial.name} trial report, {data.first} to {data.last}"

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(18 * mm, 10 * mm, title)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=title,
        author="Milton Keynes smart-city control room",
        subject=f"{data.trial.name} trial report",
    )
    story = (
        _cover(data)
        + _headline(data)
        + _daily(data)
        + _alerts(data)
        + _radio(data)
        + _quality(data)
        + _definitions(data)
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
