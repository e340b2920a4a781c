"""The topic contract: `<root>/<trial>/<asset_id>/<channel>`, parsed in one function."""

import pytest

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.topics import Topic, parse_topic, subscription_filter

TRIALS = ("streetcav", "droneport", "mark")


@pytest.mark.parametrize(
    "topic, expected",
    [
        ("mk/streetcav/cav-01/telemetry", Topic("streetcav", "cav-01", "telemetry")),
        ("mk/droneport/D_7/event", Topic("droneport", "D_7", "event")),
        ("mk/mark/" + "a" * 64 + "/status", Topic("mark", "a" * 64, "status")),
    ],
)
def test_valid_topics_parse(topic, expected):
    assert parse_topic(topic, "mk", TRIALS) == expected


@pytest.mark.parametrize(
    "topic, code",
    [
        ("mk/streetcav/cav1", "bad_topic"),
        ("mk/streetcav/cav1/telemetry/extra", "bad_topic"),
        ("other/streetcav/cav1/telemetry", "bad_topic"),
        ("", "bad_topic"),
        ("mk/tramway/t1/telemetry", "unknown_trial"),
        ("mk/StreetCAV/cav1/telemetry", "unknown_trial"),
        ("mk/streetcav/bad.id/telemetry", "bad_asset_id"),
        ("mk/streetcav/has space/telemetry", "bad_asset_id"),
        ("mk/streetcav//telemetry", "bad_asset_id"),
        ("mk/streetcav/" + "a" * 65 + "/telemetry", "bad_asset_id"),
        ("mk/streetcav/cav1/diagnostics", "unknown_channel"),
        ("mk/streetcav/cav1/", "unknown_channel"),
    ],
)
def test_bad_topics_are_rejected_with_their_code(topic, code):
    with pytest.raises(Rejected) as info:
        parse_topic(topic, "mk", TRIALS)
    assert info.value.code == code and info.value.detail


def test_trials_added_by_configuration_are_accepted():
    assert parse_topic("mk/tram/t1/event", "mk", TRIALS + ("tram",)).trial == "tram"


def test_subscription_covers_everything_under_the_root_so_bad_topics_are_seen():
    assert subscription_filter("mk") == "mk/#"
    assert subscription_filter("mk", "ingest") == "$share/ingest/mk/#"
