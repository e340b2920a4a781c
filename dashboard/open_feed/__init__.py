"""The live open feed publisher (`mk-control open-feed`): the open data's live part as MQTT topics.

Every `MK_OPEN_FEED_INTERVAL_S` it reads the shared snapshot, builds the kiosk's public view and
publishes, retained, each message of `dashboard.core.opendata.feed` that changed under `open/v1/`. Anonymous
subscribers read them on the broker's public listener (read-only, deploy/mosquitto/open.acl).
"""
