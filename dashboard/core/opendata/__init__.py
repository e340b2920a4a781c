"""The open data the city publishes: what anyone may read, built from the same allow-lists as the kiosk.

One place for every public product (the open API, the live open feed, the funder report's public
parts), so none of them can show more than another: positions come from `privacy.public_view`, KPIs
are those that read no field a trial's privacy policy hides, alerts are counted, never described.
"""
