"""The open API against its own OpenAPI description, with schemathesis: every operation, generated
parameters (valid and not), every answer checked against the (closed) schemas and status codes."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.web.app import create_app
from dashboard.web.open_api import params
from tests import seeding

PATHS = ("/", "/trials", "/trials/{trial_id}", "/assets", "/kpis/daily", "/kpis/hourly", "/alerts/counts")
# The event stream never ends by itself (schemathesis reads whole answers): tests/unit/test_open_feed.py reads it.
STREAMS = ("/stream",)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('open-schema') / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    seeding.write(engine, seeding.fleet(time.time()))
    engine.dispose()
    # No rate limit here: schemathesis sends hundreds of requests from one address on purpose.
    app = create_app(load_settings({}, database_url=url, kiosk_delay_s=60.0, open_api_rate_per_min=0))
    return schemathesis.openapi.from_wsgi("/api/open/v1/openapi.json", app.server)


def test_the_description_names_every_operation(api_schema):
    described = {op.ok().path for op in api_schema.get_all_operations()}
    assert described == set(PATHS) | set(STREAMS)


def _range_is_allowed(case) -> bool:
    """What the description says in words and a schema cannot: from <= to, both within the API's days,
    and no longer than the operation's longest range (checked by the tests of the range rules)."""
    query = case.query or {}
    try:
        params.date_range(
            {k: str(v) for k, v in query.items() if k in ("from", "to")}, max_days=7 if "hourly" in case.path else 366
        )
    except params.BadParameter:
        return False
    return True


@pytest.mark.parametrize("path", PATHS)
def test_every_operation_answers_as_described(api_schema, path):
    operation = api_schema[path]["GET"]

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE).filter(_range_is_allowed))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate()

    check()


@pytest.mark.parametrize("path", [p for p in PATHS if p != "/"])
def test_every_invalid_parameter_is_refused(api_schema, path):
    operation = api_schema[path]["GET"]

    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate()

    check()
