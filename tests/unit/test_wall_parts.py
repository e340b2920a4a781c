"""The wall's lists and the alert feed as components: unique ids, role-dependent actions, and a tick that
resends only the parts that changed."""

from __future__ import annotations

import json

import pandas as pd
import plotly
from dash import no_update

from callbacks.control import changed_only
from dashboard.core.alerting.rules import RulesStatus
from dashboard.core.auth import roles
from dashboard.core.auth.records import User
from layouts import alerts, control, ids


def _alert(alert_id: int, asset: str = "cav-04") -> dict:
    return {
        "id": alert_id,
        "severity": "critical",
        "state": "active",
        "title": "Low battery",
        "asset_id": asset,
        "trial": "streetcav",
        "occurrences": 1,
        "detail": "battery 9 %",
        "raised_at": 1_700_000_000.0,
        "acked_by": None,
    }


def _ids(component) -> list:
    """Every id in a component tree, in order (pattern-matching ids as their JSON)."""
    found: list = []

    def walk(node):
        if isinstance(node, dict):
            if "id" in node.get("props", {}):
                found.append(json.dumps(node["props"]["id"], sort_keys=True))
            for value in node.get("props", {}).values():
                walk(value)
            if "namespace" not in node:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)))
    return found


def test_several_alerts_of_one_asset_repeat_no_id_and_each_selects_it():
    rows = alerts.feed_rows([_alert(1), _alert(2), _alert(3)], select_assets=True)
    found = _ids(rows)
    assert len(found) == len(set(found)), found
    text = json.dumps(rows, cls=plotly.utils.PlotlyJSONEncoder)
    assert text.count('"data-asset": "cav-04"') == 1  # the asset's entry; its other alerts fold under it


def test_link_lost_rows_select_by_attribute_not_id():
    assets = pd.DataFrame(
        [
            {"asset_id": "cav-04", "trial": "streetcav", "lost": True, "age_s": 300.0},
            {"asset_id": "cav-05", "trial": "streetcav", "lost": True, "age_s": 900.0},
        ]
    )
    rows = control.lost_list(assets)
    assert _ids(rows) == []
    assert [row.to_plotly_json()["props"][ids.ASSET_ATTRIBUTE] for row in rows] == ["cav-05", "cav-04"]


def test_feed_offers_actions_only_to_roles_that_have_them():
    acting = json.dumps(alerts.feed_rows([_alert(7)], can_act=True), cls=plotly.utils.PlotlyJSONEncoder)
    reading = json.dumps(alerts.feed_rows([_alert(7)], can_act=False), cls=plotly.utils.PlotlyJSONEncoder)
    assert ids.ALERT_ACTION in acting and "Acknowledge" in acting
    for absent in (ids.ALERT_ACTION, ids.ALERT_TEXT, ids.ALERT_PERIOD, "Acknowledge", "Shelve"):
        assert absent not in reading


def _user(role: str) -> User:
    return User(id=1, username="pat", role=role, disabled=False, created_at=0.0, updated_at=0.0)


def test_alerts_page_offers_export_only_to_roles_that_may_export():
    for role in roles.ROLES:
        page = json.dumps(alerts.layout(user=_user(role)), cls=plotly.utils.PlotlyJSONEncoder)
        assert (ids.ALERTS_EXPORT in page) == roles.allows(role, roles.EXPORT), role


def test_a_tick_resends_only_what_changed():
    first, prints = changed_only({"lost": ["a"], "status": "10 assets"}, None)
    assert first == {"lost": ["a"], "status": "10 assets"}
    again, same = changed_only({"lost": ["a"], "status": "10 assets"}, prints)
    assert again == {"lost": no_update, "status": no_update} and same == prints
    moved, _ = changed_only({"lost": ["a", "b"], "status": "10 assets"}, prints)
    assert moved == {"lost": ["a", "b"], "status": no_update}


def test_rules_status_names_the_file_not_its_place_on_the_server():
    shown = alerts.rules_status(RulesStatus("/srv/mk/secret/alert_rules.toml", 12, 1.0, None, None))
    text = " ".join(str(part.children) for part in shown)
    assert "12 rules in force from alert_rules.toml" in text
    assert "/srv" not in text
