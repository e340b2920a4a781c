"""Alerts: rules from a TOML file, a rule evaluator fed committed telemetry, a lifecycle with an audit trail.

Modules, one concern each: `rules` (parse and validate the rules file, hot reload), `evaluator`
(pure evaluation: messages and time in, raise/clear changes out), `lifecycle` (the state machine and
its audit rows), `records` (alert read queries), `notify` (webhooks), `geometry` (trial-area
distances); for the pages: `feed` (the control-room feed), `history` (/alerts reads) and `actions`
(what an operator does). `dashboard.alert_service` runs the evaluator in a service of its own.
"""

SEVERITIES = ("critical", "major", "minor", "warning", "info")
# Sorting key: lower is worse, so an ascending sort puts critical first.
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
