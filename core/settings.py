"""SIAGA settings: one typed object, built by the entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of SIAGA, read from ``SIAGA_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SIAGA_", extra="ignore")

    # --- where things live -------------------------------------------------
    database_url: str | None = Field(
        default=None, description="PostgreSQL DSN; unset = embedded pgserver under data_dir"
    )
    mqtt_url: str | None = Field(
        default=None,
        description="mqtt://user:password@host:port of the gateway's broker account; unset = embedded broker",
    )
    data_dir: Path = Path("./var")
    http_host: str = "127.0.0.1"
    http_port: int = 8080

    # --- wire contract -----------------------------------------------------
    topic_root: str = "siaga/v1"
    mqtt_client_id: str = "siaga-gateway"
    # Gateways of one deployment share the device topics through $share/<group>/...
    mqtt_share_group: str | None = None
    mqtt_keepalive_s: int = 30

    # --- gateway reliability -----------------------------------------------
    # Messages taken from the broker but not yet acked; above this the gateway stops reading
    # the socket, so the broker (and TCP) hold the rest.
    gateway_queue_max: int = 2000
    alert_batch_max: int = 200
    telemetry_batch_max: int = 5000
    telemetry_flush_ms: int = 50
    max_payload_bytes: int = 8192
    drain_timeout_s: float = 10.0

    # --- geolocation ---------------------------------------------------------
    gps_max_age_s: int = 300
    gps_max_accuracy_m: float = 500.0
    last_known_max_age_s: int = 3600
    nearest_area_max_m: float = 100.0

    @property
    def mqtt(self) -> MqttTarget:
        if self.mqtt_url is None:
            raise ValueError("SIAGA_MQTT_URL is not set")
        return MqttTarget.parse(self.mqtt_url)


class MqttTarget:
    """The parts of an ``mqtt://user:password@host:port`` URL."""

    __slots__ = ("host", "password", "port", "username")

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt://)")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def url(self) -> str:
        cred = ""
        if self.username:
            cred = self.username + (f":{self.password}" if self.password else "") + "@"
        return f"mqtt://{cred}{self.host}:{self.port}"
