"""The fleet simulator: behaviour models of the assets, the scenario, the MQTT publisher."""
