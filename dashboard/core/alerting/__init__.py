"""Alerts: rules from a TOML file, an engine fed by the bridge, a lifecycle with an audit trail.

Modules, one concern each: `rules` (parse and validate the rules file, hot reload), `engine` (pure
evaluation: messages and time in, raise/clear changes out), `lifecycle` (the state machine and its
audit rows), `store` (tables and read queries), `service` (the engine's thread in the bridge),
`notify` (webhooks), `geometry` (trial-area distances), `identity` (who is acting).
"""

SEVERITIES = ("critical", "major", "minor", "warning", "info")
# Sorting key: lower is worse, so an ascending sort puts critical first.
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
