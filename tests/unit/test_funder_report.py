"""The funder report pack: what each section says, against the same figures the KPI page computes, and
`mk-control report` writing it."""

from __future__ import annotations

import base64
import dataclasses
import re
import time
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from dashboard.core import funder_report
from dashboard.core.funder_report import data as report_data
from dashboard.core.funder_report.pdf import number
from dashboard.core.kpis.report import KpiReports
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import alerts
from dashboard.tools import cli
from tests import seeding

NOW = seeding.day_clear_now(time.time())
TODAY = datetime.fromtimestamp(NOW, UTC).date()
FIRST, LAST = TODAY - timedelta(days=1), TODAY


def pdf_text(pdf: bytes) -> str:
    """The text drawn on the pages (reportlab writes content streams ASCII85- and Flate-encoded)."""
    parts = []
    for stream in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = stream.group(1).strip()
        try:
            content = zlib.decompress(base64.a85decode(raw[:-2] if raw.endswith(b"~>") else raw))
        except (ValueError, zlib.error):
            continue
        if b" Tj" not in content:
            continue  # an image
        parts += [m.group(1).decode("latin-1") for m in re.finditer(rb"\((.*?)(?<!\\)\) Tj", content)]
    return "\n".join(parts).replace("\\(", "(").replace("\\)", ")")


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    for day in (1, 0):  # yesterday and today, each message with its own sequence number
        fleet = seeding.fleet(NOW - day * 86_400)
        messages = [(t, {**p, "seq": p["seq"] + day * 100_000}, s) for t, p, s in fleet.messages]
        seeding.write(engine, dataclasses.replace(fleet, messages=messages))
    with engine.begin() as conn:
        for i, (severity, rank, title) in enumerate(
            (("critical", 0, "Emergency stop"), ("warning", 3, "Disengagement"), ("warning", 3, "Disengagement"))
        ):
            at = NOW - 600 - i * 60
            conn.execute(
                insert(alerts),
                {
                    "rule_id": f"streetcav.r{i}",
                    "kind": "event",
                    "trial": "streetcav",
                    "asset_id": "cav-02",
                    "severity": severity,
                    "severity_rank": rank,
                    "title": title,
                    "detail": "d",
                    "state": "closed",
                    "occurrences": 1,
                    "first_seen": at,
                    "last_seen": at,
                    "raised_at": at,
                    "updated_at": at,
                    "acked_at": at + 120,
                    "cleared_at": at + 600,
                },
            )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def settings(store_url):
    return load_settings({}, database_url=store_url)


@pytest.fixture(scope="module")
def streetcav_pdf(store_url, settings):
    engine = make_engine(store_url)
    yield funder_report.render(engine, settings, "streetcav", FIRST, LAST, NOW)
    engine.dispose()


def test_it_is_a_pdf_of_several_pages_with_charts(streetcav_pdf):
    assert streetcav_pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b", streetcav_pdf)) >= 5
    assert len(re.findall(rb"/Subtype /Image", streetcav_pdf)) >= 5  # daily charts, radio, messages per day


def test_sections_in_order(streetcav_pdf):
    text = pdf_text(streetcav_pdf)
    titles = [
        "StreetCAV",
        "1. Headline KPIs against the previous period",
        "2. Day by day",
        "3. Incidents and alerts",
        "4. Radio conditions",
        "5. Data quality",
        "6. Definitions",
    ]
    positions = [text.index(t) for t in titles]
    assert positions == sorted(positions)
    assert f"{FIRST:%d %b %Y} to {LAST:%d %b %Y} (2 days, UTC)" in text


def test_headline_figures_are_the_kpi_pages(store_url, settings, streetcav_pdf):
    engine = make_engine(store_url)
    report = KpiReports(engine, settings).compute(FIRST, LAST, NOW)["streetcav"]
    engine.dispose()
    text = pdf_text(streetcav_pdf)
    trial = settings.trial_model["streetcav"]
    for key in ("disengagements", "boardings", "auto_km", "mean_speed_kmh"):
        kpi = trial.kpi(key)
        assert number(report["now"][key], kpi.digits, kpi.unit) in text, key
    assert report["now"]["disengagements"] == 12  # 1, 2, 1 and 2 per shuttle a day, over two days


def test_alerts_with_response_times(streetcav_pdf):
    text = pdf_text(streetcav_pdf)
    assert "Emergency stop" in text and "Disengagement" in text
    assert "Mean time to acknowledge" in text
    assert "2.0 min" in text  # every seeded alert was acknowledged 120 s after it was raised
    assert "10.0 min" in text  # and cleared after 600 s


def test_radio_conditions_and_data_quality(streetcav_pdf):
    text = pdf_text(streetcav_pdf)
    radio = text[text.index("4. Radio conditions") : text.index("5. Data quality")]
    assert "Median downlink (cell mean)" in radio and "Cell availability" in radio
    assert "out_of_range" in text, "the shuttle's rejected message is counted by reason"
    assert f"{TODAY.isoformat()}" in text


def test_definitions_are_the_trials_files(streetcav_pdf):
    text = pdf_text(streetcav_pdf)
    assert "Number of `disengagement` events." in text
    assert "Days are UTC." in text


def test_a_trial_without_data_still_makes_a_report(store_url, settings):
    engine = make_engine(store_url)
    pdf = funder_report.render(
        engine, settings, "droneport", TODAY - timedelta(days=40), TODAY - timedelta(days=35), NOW
    )
    engine.dispose()
    text = pdf_text(pdf)
    assert "Drone Port" in text and "No alert was raised" in text


def test_unknown_trial_is_named(store_url, settings):
    engine = make_engine(store_url)
    with pytest.raises(report_data.UnknownTrial, match="nosuch"):
        report_data.gather(engine, settings, "nosuch", FIRST, LAST, NOW)
    engine.dispose()


def test_the_command_writes_the_file(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", store_url)
    out = tmp_path / "cav.pdf"
    code = cli.main(["report", "--trial", "streetcav", "--from", str(FIRST), "--to", str(LAST), "--out", str(out)])
    assert code == 0
    assert out.read_bytes().startswith(b"%PDF-")
    assert "3. Incidents and alerts" in pdf_text(out.read_bytes())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trial", "nosuch", "--from", "2026-11-01", "--to", "2026-11-02"], "--trial: no trial 'nosuch'"),
        (["--trial", "mark", "--from", "2026-11-03", "--to", "2026-11-02"], "is after --to"),
        (["--trial", "mark", "--from", "2020-01-01", "--to", "2026-11-02"], "at most 366"),
    ],
)
def test_the_command_refuses_bad_arguments(store_url, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert cli.main(["report", *args, "--out", str(tmp_path / "x.pdf")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


def test_a_bad_date_is_named(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.main(
            ["report", "--trial", "mark", "--from", "2026-11-1", "--to", "2026-11-02", "--out", str(tmp_path / "x.pdf")]
        )
    assert exit_.value.code == 2
    assert "--from: expected a date YYYY-MM-DD, got '2026-11-1'" in capsys.readouterr().err
