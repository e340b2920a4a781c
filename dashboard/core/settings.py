"""One settings object for every process: argument > environment > default, validated at start-up.

Every setting has an environment variable (12-factor). A bad value raises `SettingsError` naming the
variable and what was wrong, before any thread or connection starts.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dashboard.core.tiles import TileArchiveError, open_tiles
from dashboard.core.trials import Trials, TrialsError, trials_in_force

# The trials of the shipped default trials file.
BUILTIN_TRIALS = ("streetcav", "droneport", "mark")
ALERT_SEVERITIES = ("critical", "major", "minor", "warning", "info")
_TRIAL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


@dataclass(frozen=True)
class MqttUrl:
    """Where the broker is: parsed from `mqtt://user:pass@host:port` (`mqtts://` for TLS)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, name: str = "MQTT_URL") -> MqttUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise SettingsError(f"{name}: scheme must be mqtt:// or mqtts://, got {parts.scheme!r}")
        if not parts.hostname:
            raise SettingsError(f"{name}: no host in {redact_url(url)!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=parts.username or None,
            password=parts.password or None,
        )

    def url(self) -> str:
        """The URL again, password included: for handing to a child process, never for logs."""
        auth = ""
        if self.username:
            auth = self.username + (f":{self.password}" if self.password else "") + "@"
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}"


def _redact_webhook(url: str) -> str:
    """Scheme and host only: a chat webhook's secret is usually its path."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    return f"{parts.scheme}://{parts.hostname}/***"


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Settings:
    """Every tunable of the product. Build with `load_settings()`; tests pass overrides."""

    database_url: str = "sqlite:///mk_control.db"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "mk-bridge"
    mqtt_protocol: str = "5"  # "5" or "3.1.1"; the embedded demo broker speaks 3.1.1 only
    mqtt_share_group: str = ""  # run several bridges as one $share/<group>/ subscription
    mqtt_topic_root: str = "mk"
    mqtt_session_expiry_s: int = 86_400  # broker keeps our session (and unacked messages) a day
    mqtt_keepalive_s: int = 30
    mqtt_ca_file: str = ""
    mqtt_cert_file: str = ""
    mqtt_key_file: str = ""
    # The trials file (dashboard/core/trials/default_trials.toml when ""); MK_EXTRA_TRIALS adds bare
    # trials (accepted and stored, shown with defaults) to it.
    trials_path: str = ""
    extra_trials: tuple[str, ...] = ()
    max_payload_bytes: int = 65_536
    max_future_skew_s: float = 300.0
    queue_max: int = 20_000
    batch_max: int = 2_000
    batch_wait_ms: int = 50
    # 2: paho receives in one process, a second process decodes, validates and writes (each has a
    # core and a GIL of its own); 1: all in one process (threads).
    bridge_processes: int = 2
    stats_interval_s: float = 5.0
    retention_days: int = 30
    web_host: str = "127.0.0.1"
    web_port: int = 8050
    # A raster tile URL template ({z}/{x}/{y}) on another server, for deployments with internet.
    map_tile_url: str = ""
    # An offline base map: a .pmtiles or .mbtiles file of vector tiles the web app serves itself
    # (docs/basemap.md says how to cut a Milton Keynes extract).
    basemap_path: str = ""
    log_level: str = "INFO"
    # Pages. One tick is one shared snapshot read from the store, whatever the number of screens.
    tick_s: float = 1.0
    # "trial=seconds": an asset silent longer than this is grey and listed as "link lost". Overrides
    # the trial's `lost_after_s` in the trials file.
    stale_after: tuple[str, ...] = ()
    stale_default_s: float = 60.0  # trials added by MK_EXTRA_TRIALS
    # Directory where web workers share each tick's snapshot (one database read per tick across all
    # workers). "": each process reads for itself (the dev server); dashboard.web.wsgi defaults it.
    snapshot_cache_dir: str = ""
    # Screens one web process streams live data to at once (each holds one of its server threads:
    # keep it below gunicorn's --threads so pages and callbacks still get threads). Beyond it a
    # screen is refused and polls instead.
    push_screens: int = 40
    kiosk_delay_s: float = 120.0  # public positions are at least this old
    kiosk_coarsen_m: float = 300.0  # and snapped to a grid this coarse
    kiosk_rotate_s: float = 8.0  # attract mode shows each trial this long
    kiosk_idle_s: float = 45.0  # a touched kiosk returns to attract mode after this much idle
    # KPI ranges longer than this many days read daily roll-ups for settled days (0: always; only the
    # days not yet settled - today - are computed from raw rows).
    kpi_rollup_after_days: int = 0
    # Alerts: "" means the shipped dashboard/core/alerting/default_rules.toml.
    alert_rules_path: str = ""
    alert_sweep_s: float = 1.0  # how often staleness and timed clears are checked
    # More than this many new alerts within the window is an alert flood: the wall says so.
    alert_flood_count: int = 10
    alert_flood_window_s: float = 600.0
    # MK_ALERT_ENGINE: whether the alert service (`mk-control alerts`) runs; "off" makes it exit at once.
    # The bridge raises no alerts and does not read it. The name is kept: deployments ship it.
    alert_engine: str = "on"
    # Optional webhook per severity (HTTP POST of JSON); "" sends nothing for that severity.
    alert_webhook_critical: str = field(default="", repr=False)
    alert_webhook_major: str = field(default="", repr=False)
    alert_webhook_minor: str = field(default="", repr=False)
    alert_webhook_warning: str = field(default="", repr=False)
    alert_webhook_info: str = field(default="", repr=False)
    # Bridge: per-asset token bucket. 10/s is ten times the fastest device; a burst of 600 lets a
    # device flush ten minutes of 1 Hz store-and-forward; the grace after each (re)connect lets the
    # bridge drain its own session backlog. Excess is dead-lettered as `rate_limited`. 0 disables.
    rate_limit_per_asset: float = 10.0
    rate_burst_per_asset: int = 600
    rate_limit_grace_s: float = 120.0
    # Bridge: new asset ids per trial. A trial may introduce this many ids it has never used at once,
    # then this many an hour; messages for further new ids are dead-lettered as `too_many_new_assets`
    # (a supplier inventing ids must not flood the wall). Known ids are never counted. Burst 0 disables.
    new_assets_burst: int = 200
    new_assets_per_hour: float = 100.0
    # Sign-in. A session ends after this long idle (open pages keep it alive) or this long at most
    # (a shift).
    session_idle_s: int = 3600
    session_max_s: int = 43_200
    cookie_secure: str = "auto"  # auto: Secure when the request came over HTTPS
    proxy_hops: int = 0  # reverse proxies trusted for X-Forwarded-For/-Proto (0: none)
    # Failed sign-ins: the first few are free, then each waits longer; this many in the window lock
    # the account (or, x5, the address) for login_lock_s.
    login_free_failures: int = 3
    login_lock_after: int = 10
    login_window_s: int = 900
    login_lock_s: int = 900
    # Open data API (/api/open/v1/): requests per minute per client address, after a burst of this
    # many (a page of a client app loads a few endpoints at once). Rate 0 disables the limit.
    open_api_rate_per_min: float = 120.0
    open_api_burst: int = 30
    # The live open feed (`mk-control open-feed`): the broker URL it publishes open/v1/# with (its own
    # user, see deploy/mosquitto/acl; "" uses MQTT_URL) and how often it looks for changes.
    open_feed_mqtt_url: str = field(default="", repr=False)
    open_feed_interval_s: float = 2.0

    # (field, environment variable); DATABASE_URL and MQTT_URL keep their conventional names.
    ENV = {
        "database_url": "DATABASE_URL",
        "mqtt_url": "MQTT_URL",
        "mqtt_client_id": "MK_MQTT_CLIENT_ID",
        "mqtt_protocol": "MK_MQTT_PROTOCOL",
        "mqtt_share_group": "MK_MQTT_SHARE_GROUP",
        "mqtt_topic_root": "MK_MQTT_TOPIC_ROOT",
        "mqtt_session_expiry_s": "MK_MQTT_SESSION_EXPIRY_S",
        "mqtt_keepalive_s": "MK_MQTT_KEEPALIVE_S",
        "mqtt_ca_file": "MK_MQTT_CA_FILE",
        "mqtt_cert_file": "MK_MQTT_CERT_FILE",
        "mqtt_key_file": "MK_MQTT_KEY_FILE",
        "trials_path": "MK_TRIALS",
        "extra_trials": "MK_EXTRA_TRIALS",
        "max_payload_bytes": "MK_MAX_PAYLOAD_BYTES",
        "max_future_skew_s": "MK_MAX_FUTURE_SKEW_S",
        "queue_max": "MK_QUEUE_MAX",
        "batch_max": "MK_BATCH_MAX",
        "batch_wait_ms": "MK_BATCH_WAIT_MS",
        "bridge_processes": "MK_BRIDGE_PROCESSES",
        "stats_interval_s": "MK_STATS_INTERVAL_S",
        "retention_days": "MK_RETENTION_DAYS",
        "web_host": "MK_WEB_HOST",
        "web_port": "MK_WEB_PORT",
        "map_tile_url": "MK_MAP_TILE_URL",
        "basemap_path": "MK_BASEMAP",
        "log_level": "MK_LOG_LEVEL",
        "tick_s": "MK_TICK_S",
        "stale_after": "MK_STALE_AFTER",
        "stale_default_s": "MK_STALE_DEFAULT_S",
        "snapshot_cache_dir": "MK_SNAPSHOT_CACHE_DIR",
        "push_screens": "MK_PUSH_SCREENS",
        "kiosk_delay_s": "MK_KIOSK_DELAY_S",
        "kiosk_coarsen_m": "MK_KIOSK_COARSEN_M",
        "kiosk_rotate_s": "MK_KIOSK_ROTATE_S",
        "kiosk_idle_s": "MK_KIOSK_IDLE_S",
        "kpi_rollup_after_days": "MK_KPI_ROLLUP_AFTER_DAYS",
        "alert_rules_path": "MK_ALERT_RULES",
        "alert_sweep_s": "MK_ALERT_SWEEP_S",
        "alert_flood_count": "MK_ALERT_FLOOD_COUNT",
        "alert_flood_window_s": "MK_ALERT_FLOOD_WINDOW_S",
        "alert_engine": "MK_ALERT_ENGINE",
        "alert_webhook_critical": "MK_ALERT_WEBHOOK_CRITICAL",
        "alert_webhook_major": "MK_ALERT_WEBHOOK_MAJOR",
        "alert_webhook_minor": "MK_ALERT_WEBHOOK_MINOR",
        "alert_webhook_warning": "MK_ALERT_WEBHOOK_WARNING",
        "alert_webhook_info": "MK_ALERT_WEBHOOK_INFO",
        "rate_limit_per_asset": "MK_RATE_LIMIT_PER_ASSET",
        "rate_burst_per_asset": "MK_RATE_BURST_PER_ASSET",
        "rate_limit_grace_s": "MK_RATE_LIMIT_GRACE_S",
        "new_assets_burst": "MK_NEW_ASSETS_BURST",
        "new_assets_per_hour": "MK_NEW_ASSETS_PER_HOUR",
        "session_idle_s": "MK_SESSION_IDLE_S",
        "session_max_s": "MK_SESSION_MAX_S",
        "cookie_secure": "MK_COOKIE_SECURE",
        "proxy_hops": "MK_PROXY_HOPS",
        "login_free_failures": "MK_LOGIN_FREE_FAILURES",
        "login_lock_after": "MK_LOGIN_LOCK_AFTER",
        "login_window_s": "MK_LOGIN_WINDOW_S",
        "login_lock_s": "MK_LOGIN_LOCK_S",
        "open_api_rate_per_min": "MK_OPEN_API_RATE_PER_MIN",
        "open_api_burst": "MK_OPEN_API_BURST",
        "open_feed_mqtt_url": "MK_OPEN_FEED_MQTT_URL",
        "open_feed_interval_s": "MK_OPEN_FEED_INTERVAL_S",
    }

    @property
    def trial_model(self) -> Trials:
        """The trials in force: the trials file plus MK_EXTRA_TRIALS (read once per file version)."""
        return trials_in_force(self.trials_path, self.extra_trials)

    @property
    def trials(self) -> tuple[str, ...]:
        return self.trial_model.ids

    def stale_after_s(self, trial: str) -> float:
        """Seconds of silence after which an asset of `trial` counts as "link lost"."""
        configured = _stale_map(self.stale_after).get(trial)
        if configured is not None:
            return configured
        found = self.trial_model.get(trial)
        return found.lost_after_s if found is not None and trial not in self.trial_model.added else self.stale_default_s

    def public_delay_s(self, trial: str) -> float:
        """How old a position of `trial` is at least on public screens: MK_KIOSK_DELAY_S, or the
        trial's own privacy delay when longer."""
        found = self.trial_model.get(trial)
        own = found.privacy.delay_s if found is not None and found.privacy is not None else 0.0
        return max(self.kiosk_delay_s, own)

    def public_snap_m(self, trial: str) -> float:
        """The grid public positions of `trial` are snapped to: MK_KIOSK_COARSEN_M, or the trial's own
        when coarser."""
        found = self.trial_model.get(trial)
        own = found.privacy.snap_m if found is not None and found.privacy is not None else 0.0
        return max(self.kiosk_coarsen_m, own)

    @property
    def alert_webhooks(self) -> dict[str, str]:
        """Severity -> webhook URL, for the severities that have one."""
        return {
            sev: getattr(self, f"alert_webhook_{sev}")
            for sev in ALERT_SEVERITIES
            if getattr(self, f"alert_webhook_{sev}")
        }

    @property
    def mqtt(self) -> MqttUrl:
        return MqttUrl.parse(self.mqtt_url)

    def redacted(self) -> dict[str, Any]:
        """Every setting, secrets masked: what start-up logs print."""
        out = dataclasses.asdict(self)
        out["database_url"] = redact_url(self.database_url)
        out["mqtt_url"] = redact_url(self.mqtt_url)
        out["open_feed_mqtt_url"] = redact_url(self.open_feed_mqtt_url)
        for sev in ALERT_SEVERITIES:  # webhook tokens often sit in the path, not the password
            out[f"alert_webhook_{sev}"] = _redact_webhook(getattr(self, f"alert_webhook_{sev}"))
        return out

    def validate(self) -> Settings:
        """Raise `SettingsError` naming the first bad setting; return self when all are good."""
        env = self.ENV
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", self.database_url):
            raise SettingsError(
                f"{env['database_url']}: must start with sqlite:// or postgresql://, "
                f"got {redact_url(self.database_url)!r}"
            )
        MqttUrl.parse(self.mqtt_url, env["mqtt_url"])
        if self.open_feed_mqtt_url:
            MqttUrl.parse(self.open_feed_mqtt_url, env["open_feed_mqtt_url"])
        if self.mqtt_protocol not in ("5", "3.1.1"):
            raise SettingsError(f"{env['mqtt_protocol']}: must be 5 or 3.1.1, got {self.mqtt_protocol!r}")
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.mqtt_client_id):
            raise SettingsError(f"{env['mqtt_client_id']}: 1-64 of A-Z a-z 0-9 _ -, got {self.mqtt_client_id!r}")
        if self.mqtt_share_group and not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.mqtt_share_group):
            raise SettingsError(f"{env['mqtt_share_group']}: 1-64 of A-Z a-z 0-9 _ -")
        if self.mqtt_share_group and self.mqtt_protocol != "5":
            raise SettingsError(f"{env['mqtt_share_group']}: shared subscriptions need MK_MQTT_PROTOCOL=5")
        if not re.match(r"^[A-Za-z0-9_-]+$", self.mqtt_topic_root):
            raise SettingsError(f"{env['mqtt_topic_root']}: one topic level of A-Z a-z 0-9 _ -")
        for name in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise SettingsError(f"{env[name]}: no such file {path!r}")
        if bool(self.mqtt_cert_file) != bool(self.mqtt_key_file):
            raise SettingsError(f"{env['mqtt_cert_file']}/{env['mqtt_key_file']}: give both or neither")
        for trial in self.extra_trials:
            if not _TRIAL_NAME.match(trial):
                raise SettingsError(f"{env['extra_trials']}: bad trial name {trial!r} (a-z 0-9 _ -)")
        if self.map_tile_url and urlsplit(self.map_tile_url).scheme not in ("http", "https"):
            raise SettingsError(f"{env['map_tile_url']}: must be an http:// or https:// URL template")
        if self.basemap_path:
            try:
                open_tiles(self.basemap_path).close()
            except TileArchiveError as exc:
                raise SettingsError(f"{env['basemap_path']}: {exc}") from None
        if self.trials_path and not os.path.isfile(self.trials_path):
            raise SettingsError(f"{env['trials_path']}: no such file {self.trials_path!r}")
        try:
            trials_in_force(self.trials_path, self.extra_trials)  # its alert rules: see tools.cli.main
        except TrialsError as exc:
            raise SettingsError(f"{env['trials_path']}: {exc}") from None
        positive = (
            "mqtt_session_expiry_s",
            "mqtt_keepalive_s",
            "max_payload_bytes",
            "max_future_skew_s",
            "queue_max",
            "batch_max",
            "batch_wait_ms",
            "stats_interval_s",
            "retention_days",
            "web_port",
            "tick_s",
            "push_screens",
            "stale_default_s",
            "kiosk_rotate_s",
            "kiosk_idle_s",
            "rate_burst_per_asset",
            "session_idle_s",
            "session_max_s",
            "login_lock_after",
            "login_window_s",
            "login_lock_s",
            "open_api_burst",
            "open_feed_interval_s",
            "alert_flood_count",
            "alert_flood_window_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{env[name]}: must be greater than 0, got {getattr(self, name)}")
        if self.batch_max > self.queue_max:
            raise SettingsError(f"{env['batch_max']}: must not exceed {env['queue_max']} ({self.queue_max})")
        if self.bridge_processes not in (1, 2):
            raise SettingsError(f"{env['bridge_processes']}: must be 1 or 2, got {self.bridge_processes}")
        if self.web_port > 65535:
            raise SettingsError(f"{env['web_port']}: must be a TCP port (1-65535), got {self.web_port}")
        for name in (
            "kiosk_delay_s",
            "kiosk_coarsen_m",
            "kpi_rollup_after_days",
            "rate_limit_per_asset",
            "rate_limit_grace_s",
            "new_assets_burst",
            "new_assets_per_hour",
            "proxy_hops",
            "login_free_failures",
            "open_api_rate_per_min",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{env[name]}: must not be negative, got {getattr(self, name)}")
        _stale_map(self.stale_after)
        if self.alert_rules_path and not os.path.isfile(self.alert_rules_path):
            raise SettingsError(f"{env['alert_rules_path']}: no such file {self.alert_rules_path!r}")
        if self.alert_engine not in ("on", "off"):
            raise SettingsError(f"{env['alert_engine']}: on or off, got {self.alert_engine!r}")
        if self.alert_sweep_s <= 0:
            raise SettingsError(f"{env['alert_sweep_s']}: must be greater than 0, got {self.alert_sweep_s}")
        for sev in ALERT_SEVERITIES:
            url = getattr(self, f"alert_webhook_{sev}")
            if url and urlsplit(url).scheme not in ("http", "https"):
                raise SettingsError(f"{env[f'alert_webhook_{sev}']}: must be an http:// or https:// URL")
        if self.cookie_secure not in ("auto", "always", "never"):
            raise SettingsError(f"{env['cookie_secure']}: one of auto always never, got {self.cookie_secure!r}")
        if self.login_free_failures >= self.login_lock_after:
            raise SettingsError(
                f"{env['login_free_failures']}: must be less than {env['login_lock_after']} ({self.login_lock_after})"
            )
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"{env['log_level']}: one of DEBUG INFO WARNING ERROR, got {self.log_level!r}")
        return self


def _stale_map(entries: tuple[str, ...]) -> dict[str, float]:
    """Parse `("streetcav=15", ...)`; raise `SettingsError` naming MK_STALE_AFTER on a bad entry."""
    out: dict[str, float] = {}
    for entry in entries:
        trial, sep, seconds = entry.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if not sep or not _TRIAL_NAME.match(trial.strip()) or value <= 0:
            raise SettingsError(f"{Settings.ENV['stale_after']}: expected trial=seconds (> 0), got {entry!r}")
        out[trial.strip()] = value
    return out


def _convert(name: str, raw: str, kind: Any) -> Any:
    var = Settings.ENV[name]
    if kind is int or kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{var}: must be a whole number, got {raw!r}") from None
    if kind is float or kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{var}: must be a number, got {raw!r}") from None
    if kind in (tuple[str, ...], "tuple[str, ...]"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from keyword overrides, then the environment, then defaults; validated."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        var = Settings.ENV.get(f.name)
        if var and var in environ and environ[var] != "":
            values[f.name] = _convert(f.name, environ[var], f.type)
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return Settings(**values).validate()
