"""The core every process stands on: settings, the telemetry contract, the store, alert rules,
KPI arithmetic, sign-in records. It imports nothing from the bridge, the web app or the tools."""
