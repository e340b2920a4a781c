"""The alert service: rules evaluated over committed telemetry, in a process of its own."""
