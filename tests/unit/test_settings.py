"""Settings: argument > environment > default; a bad value names its variable; secrets never logged."""

from __future__ import annotations

import pytest

from dashboard.core.settings import MqttUrl, Settings, SettingsError, load_settings, redact_url


def test_defaults_environment_and_arguments_in_that_order():
    assert load_settings({}).queue_max == Settings().queue_max
    assert load_settings({"MK_QUEUE_MAX": "5000"}).queue_max == 5000
    assert load_settings({"MK_QUEUE_MAX": "5000"}, queue_max=6000).queue_max == 6000
    assert load_settings({"MK_QUEUE_MAX": ""}).queue_max == Settings().queue_max  # empty means unset


def test_every_field_has_an_environment_variable_and_they_are_distinct():
    import dataclasses

    names = [f.name for f in dataclasses.fields(Settings)]
    assert set(names) <= set(Settings.ENV), set(names) - set(Settings.ENV)
    assert len(set(Settings.ENV.values())) == len(Settings.ENV)


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"MQTT_URL": "http://broker:1883"}, "MQTT_URL"),
        ({"MQTT_URL": "mqtt://broker:notaport"}, "MQTT_URL"),
        ({"MQTT_URL": "mqtt://"}, "MQTT_URL"),
        ({"MK_MQTT_PROTOCOL": "4"}, "MK_MQTT_PROTOCOL"),
        ({"MK_MQTT_CLIENT_ID": "has space"}, "MK_MQTT_CLIENT_ID"),
        ({"MK_MQTT_SHARE_GROUP": "g", "MK_MQTT_PROTOCOL": "3.1.1"}, "MK_MQTT_SHARE_GROUP"),
        ({"MK_MQTT_SHARE_GROUP": "a/b"}, "MK_MQTT_SHARE_GROUP"),
        ({"MK_MQTT_TOPIC_ROOT": "a/b"}, "MK_MQTT_TOPIC_ROOT"),
        ({"MK_MQTT_CA_FILE": "/nonexistent/ca.pem"}, "MK_MQTT_CA_FILE"),
        ({"MK_QUEUE_MAX": "lots"}, "MK_QUEUE_MAX"),
        ({"MK_QUEUE_MAX": "0"}, "MK_QUEUE_MAX"),
        ({"MK_BATCH_MAX": "30000"}, "MK_BATCH_MAX"),  # more than the queue holds
        ({"MK_MAX_FUTURE_SKEW_S": "soon"}, "MK_MAX_FUTURE_SKEW_S"),
        ({"MK_RETENTION_DAYS": "-1"}, "MK_RETENTION_DAYS"),
        ({"MK_WEB_PORT": "70000"}, "MK_WEB_PORT"),
        ({"MK_EXTRA_TRIALS": "tram,Bad Trial"}, "MK_EXTRA_TRIALS"),
        ({"MK_LOG_LEVEL": "LOUD"}, "MK_LOG_LEVEL"),
    ],
)
def test_a_bad_value_names_its_environment_variable(env, variable):
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert str(info.value).startswith(variable), str(info.value)


def test_an_unknown_override_is_refused():
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings({}, queue_maximum=5)


def test_extra_trials_extend_the_built_in_ones():
    s = load_settings({"MK_EXTRA_TRIALS": "tram, streetcav ,bus"})
    assert s.trials == ("streetcav", "droneport", "mark", "tram", "bus")


def test_mqtt_url_parts_and_tls_default_port():
    url = MqttUrl.parse("mqtts://bridge:s3cret@broker.example:8884")
    assert (url.host, url.port, url.tls, url.username, url.password) == (
        "broker.example",
        8884,
        True,
        "bridge",
        "s3cret",
    )
    assert MqttUrl.parse("mqtts://broker").port == 8883 and MqttUrl.parse("mqtt://broker").port == 1883
    assert "s3cret" not in repr(url)


def test_secrets_are_redacted_in_what_is_logged():
    s = load_settings(
        {"DATABASE_URL": "postgresql://mk:dbpass@db:5432/mk", "MQTT_URL": "mqtt://bridge:mqttpass@broker:1883"}
    )
    shown = repr(s.redacted())
    assert "dbpass" not in shown and "mqttpass" not in shown
    assert "postgresql://mk:***@db:5432/mk" in shown and "mqtt://bridge:***@broker:1883" in shown
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_bad_url_in_an_error_message_is_redacted():
    with pytest.raises(SettingsError) as info:
        load_settings({"DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "hunter2" not in str(info.value)
