"""`python -m mqtt_bridge`: the same as `mk-control bridge`."""

import sys

from dashboard.cli import main

raise SystemExit(main(["bridge", *sys.argv[1:]]))
