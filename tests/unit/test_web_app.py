"""`create_app`: every callback module is registered, and every app built in a process gets every callback."""

from __future__ import annotations

import pkgutil

import callbacks
from dashboard.core.auth import policy
from dashboard.core.settings import load_settings
from dashboard.web.app import CALLBACK_MODULES, create_app


def test_the_callback_modules_are_the_access_tables_and_every_module_of_the_package():
    in_package = {f"callbacks.{m.name}" for m in pkgutil.iter_modules(callbacks.__path__)}
    assert set(CALLBACK_MODULES) == set(policy.CALLBACK_MODULES) == in_package


def test_each_app_built_in_one_process_serves_every_callback(tmp_path):
    outputs = []
    for n in range(2):
        app = create_app(load_settings(environ={}, database_url=f"sqlite:///{tmp_path / f'store-{n}.db'}"))
        listed = app.server.test_client().get("/_dash-dependencies").get_json()
        outputs.append(sorted(d["output"] for d in listed))
    assert outputs[0] == outputs[1]
    modules = {entry["callback"].__module__ for entry in app.callback_map.values() if entry.get("callback")}
    assert set(CALLBACK_MODULES) <= modules  # admin's (dash.callback) as well as the pages' (dash.hooks)
    assert len(outputs[0]) == len(set(outputs[0])) > 15  # and none twice
