"""`python -m dashboard.simulator`: the same as `mk-control simulate`."""

import argparse
import logging

from dashboard.core.settings import load_settings
from dashboard.simulator.command import add_arguments, main

parser = argparse.ArgumentParser(
    prog="python -m dashboard.simulator", description="Publish a simulated fleet over MQTT."
)
add_arguments(parser)
settings = load_settings()
logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
raise SystemExit(main(parser.parse_args(), settings))
