"""The telemetry contract suppliers publish to: topics, typed messages, rejection reasons."""
