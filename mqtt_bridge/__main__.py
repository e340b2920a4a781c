"""`python -m mqtt_bridge`: the same as `mk-control bridge`."""

import sys

from dashboard.tools.cli import main

raise SystemExit(main(["bridge", *sys.argv[1:]]))
