"""The fleet simulator: asset behaviour models (`models`), the seeded fleet (`fleet`), the MQTT publisher
(`publisher`) and the `mk-control simulate` command (`command`)."""
