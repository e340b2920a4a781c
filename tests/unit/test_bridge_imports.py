"""The bridge stands on the core only: it loads neither the alert service, the tools nor the web app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_IN_THE_BRIDGE = ("dashboard.alert_service", "dashboard.tools", "dashboard.web", "dashboard.simulator")


def test_the_bridge_imports_only_the_core():
    code = (
        "import json, sys\n"
        "import mqtt_bridge.__main__, mqtt_bridge.bridge, mqtt_bridge.two_process\n"
        "ours = ('dashboard', 'callbacks', 'layouts')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ours)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "dashboard.core.store.ingest" in loaded  # the check sees what the bridge loads
    assert [m for m in loaded if m.startswith(NOT_IN_THE_BRIDGE) or m.split(".")[0] != "dashboard"] == []
