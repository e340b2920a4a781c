"""Pieces of `mk-control bench`: a private Mosquitto, publishers and subscribers in their own
processes, database preparation, the 10M-row latest-state fixture, statistics and the report.

Nothing here runs at import: every part is started by `dashboard.tools.bench.main.main`.
"""
