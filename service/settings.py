"""Every setting, its environment variable, type and default, in one place.

Thresholds that differ per order (distances, intervals) are data on the order,
not settings. docs/operations.md mirrors this table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.errors import ConfigError

if TYPE_CHECKING:
    from service.adapters.mqtt.url import MqttUrl


@dataclass(frozen=True, slots=True)
class Settings:
    mqtt_url: str | None = None  # STAYAWAY_MQTT_URL; None: embedded broker on loopback
    database_url: str | None = None  # STAYAWAY_DATABASE_URL; None: SQLite file in data_dir
    http: str = "127.0.0.1:8080"  # STAYAWAY_HTTP: host:port of the web app
    data_dir: str = "~/.local/share/stayaway"  # STAYAWAY_DATA_DIR
    mqtt_client_id: str = "stayaway-ingest"  # STAYAWAY_MQTT_CLIENT_ID: fixed, so the session persists
    mqtt_protocol: str = "3.1.1"  # STAYAWAY_MQTT_PROTOCOL: 3.1.1 (faster in paho) or 5; embedded broker: 3.1.1
    mqtt_receive_maximum: int = 4096  # STAYAWAY_MQTT_RECEIVE_MAXIMUM: QoS 1 messages in flight to us (MQTT 5)
    mqtt_session_expiry_s: int = 7 * 24 * 3600  # STAYAWAY_MQTT_SESSION_EXPIRY_S
    # TLS for an mqtts:// broker URL (service/adapters/mqtt/url.py): the PEM CA certificates the broker's
    # certificate must chain to (unset: the system's trust store), and our client certificate and its
    # unencrypted key for a listener that requires one (unset: none; key unset: it is in the cert file)
    mqtt_ca_file: str = ""  # STAYAWAY_MQTT_CA_FILE
    mqtt_cert_file: str = ""  # STAYAWAY_MQTT_CERT_FILE
    mqtt_key_file: str = ""  # STAYAWAY_MQTT_KEY_FILE
    max_batch: int = 2000  # STAYAWAY_MAX_BATCH: messages per transaction at most
    batch_budget_ms: float = 30.0  # STAYAWAY_BATCH_BUDGET_MS: a batch holds what takes about this long (panics wait)
    max_payload_bytes: int = 256 * 1024  # STAYAWAY_MAX_PAYLOAD_BYTES
    sqlite_synchronous: str = "FULL"  # STAYAWAY_SQLITE_SYNCHRONOUS: FULL or NORMAL
    outbox_retry_s: float = 10.0  # STAYAWAY_OUTBOX_RETRY_S: republish an unacknowledged alert after this
    config_poll_s: float = 0.5  # STAYAWAY_CONFIG_POLL_S: how often imported orders/agencies are picked up
    log_level: str = "INFO"  # STAYAWAY_LOG_LEVEL
    # STAYAWAY_ESCALATION: JSON, steps per alert kind or severity, e.g.
    # {"critical": [[60, "renotify"], [120, "supervisor"], [300, "next_agency"]]}; unset: the defaults
    escalation: str = ""
    evidence_key: str = ""  # STAYAWAY_EVIDENCE_KEY: the Ed25519 key (PEM) that signs evidence; unset: made in data_dir
    retention_days: int = 1825  # STAYAWAY_RETENTION_DAYS: an ended order's case data is kept this long
    audit_retention_days: int = 1825  # STAYAWAY_AUDIT_RETENTION_DAYS: the access audit (never under 365)
    health_close_after_s: float = 60.0  # STAYAWAY_HEALTH_CLOSE_AFTER_S: an ended safe device condition closes after
    # STAYAWAY_APPRISE_CONFIG: an Apprise configuration file whose URLs (SMS, e-mail, chat) are tagged with
    # agency ids; every alert message for such an agency also goes there. Unset: no Apprise deliveries.
    apprise_config: str = ""
    webhook_secret: str = ""  # STAYAWAY_WEBHOOK_SECRET: signs webhooks (HMAC-SHA256); unset: deliveries wait
    timezone: str = "Asia/Shanghai"  # STAYAWAY_TIMEZONE: the web app shows times in this zone (IANA name)
    # STAYAWAY_MAP_TILES: a tile URL template for the web app's maps, e.g. https://tiles.example/{z}/{x}/{y}.png;
    # unset: zones, tracks and precincts are drawn on a plain background (no tile server needed)
    map_tiles: str = ""
    # STAYAWAY_LEGAL_PROFILE: the order law of courts whose agency names none (service/domain/profiles.py):
    # prc-advl-2016 (the law in force: terms of at most 6 months) or expert-draft
    legal_profile: str = "prc-advl-2016"
    # STAYAWAY_EXPIRY_REMINDERS: days before an order's expiry when its court, police and her phone are reminded
    expiry_reminders: str = "14,3"
    end_grace_h: float = 72.0  # STAYAWAY_END_GRACE_H: after an order's end her panic still reaches police this long

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"STAYAWAY_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, type(getattr(cls(), f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.mqtt_protocol not in ("5", "3.1.1"):
            raise ConfigError("STAYAWAY_MQTT_PROTOCOL must be 5 or 3.1.1")
        if not 1 <= self.mqtt_receive_maximum <= 65535:
            raise ConfigError("STAYAWAY_MQTT_RECEIVE_MAXIMUM must be 1..65535")
        if self.batch_budget_ms <= 0 or self.max_batch < 1:
            raise ConfigError("STAYAWAY_BATCH_BUDGET_MS and STAYAWAY_MAX_BATCH must be positive")
        if self.retention_days < 1 or self.audit_retention_days < 365:
            raise ConfigError("STAYAWAY_RETENTION_DAYS must be at least 1 and STAYAWAY_AUDIT_RETENTION_DAYS at least 365")
        if self.health_close_after_s < 0:
            raise ConfigError("STAYAWAY_HEALTH_CLOSE_AFTER_S must be 0 or more")
        if not 0 <= self.end_grace_h <= 24 * 365:
            raise ConfigError("STAYAWAY_END_GRACE_H must be from 0 to 8760 hours")
        self.reminder_days()
        self.http_address()
        self.escalation_policies()
        self.mqtt()
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except (ValueError, KeyError, OSError) as exc:
            raise ConfigError(f"STAYAWAY_TIMEZONE: no time zone {self.timezone!r}") from exc
        from service.domain import profiles

        if self.legal_profile not in profiles.PROFILES:
            raise ConfigError(f"STAYAWAY_LEGAL_PROFILE must be one of {', '.join(profiles.PROFILES)}")
        loopback = self.map_tiles.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if self.map_tiles and not ((self.map_tiles.startswith(("https://", "/")) or loopback)
                                   and "{z}" in self.map_tiles and "{x}" in self.map_tiles and "{y}" in self.map_tiles):
            raise ConfigError("STAYAWAY_MAP_TILES must be an https URL template (or a path on this site, or a "
                              "loopback http one) with {z}, {x} and {y}: the tile server sees which areas are viewed")

    def reminder_days(self) -> tuple[int, ...]:
        """STAYAWAY_EXPIRY_REMINDERS parsed: whole days, each from 1 to 365 (empty: no reminders)."""
        try:
            days = tuple(sorted({int(d) for d in self.expiry_reminders.split(",") if d.strip()}, reverse=True))
        except ValueError as exc:
            raise ConfigError("STAYAWAY_EXPIRY_REMINDERS must be days separated by commas, e.g. 14,3") from exc
        if any(not 1 <= d <= 365 for d in days):
            raise ConfigError("STAYAWAY_EXPIRY_REMINDERS: each must be from 1 to 365 days")
        return days

    def escalation_policies(self) -> dict[str, Any]:
        """STAYAWAY_ESCALATION parsed and checked (alerts.escalation.parse_steps)."""
        if not self.escalation:
            return {}
        from alerts.escalation import parse_steps

        try:
            raw = json.loads(self.escalation)
            if not isinstance(raw, dict):
                raise ValueError("a JSON object of kind or severity to steps")
            return {str(k): parse_steps(v) for k, v in raw.items()}
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"STAYAWAY_ESCALATION: {exc}") from exc

    def mqtt(self) -> MqttUrl | None:
        """The broker URL with its TLS files (its str() masks the password); None: the
        embedded broker. A cleartext ``mqtt://`` URL is refused unless the broker is on this machine."""
        if self.mqtt_url is None:
            if self.mqtt_ca_file or self.mqtt_cert_file or self.mqtt_key_file:
                raise ConfigError("STAYAWAY_MQTT_CA_FILE, _CERT_FILE and _KEY_FILE need an mqtts:// STAYAWAY_MQTT_URL "
                                  "(the embedded broker is loopback only, without TLS)")
            return None
        from service.adapters.mqtt.url import parse_mqtt_url

        return parse_mqtt_url(self.mqtt_url, self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)

    def http_address(self) -> tuple[str, int]:
        host, sep, port = self.http.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError("STAYAWAY_HTTP must be HOST:PORT, e.g. 127.0.0.1:8080")
        return host.strip("[]") or "127.0.0.1", int(port)

    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.data_dir))

    def effective_database_url(self, filename: str = "stayaway.sqlite") -> str:
        return self.database_url or f"sqlite:///{self.data_path() / filename}"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"STAYAWAY_{name.upper()} must be a number") from exc
    return raw
