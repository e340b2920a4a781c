"""`python -m mqtt_bridge`: the same as `mk-control bridge`."""

from dashboard.cli import main

raise SystemExit(main(["bridge"]))
