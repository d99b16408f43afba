"""SIAGA settings: one typed object, built by the entry point and passed down."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
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
    # Largest device payload (MQTT alert, telemetry, status) the gateway parses. An alert is
    # under 1 KiB and telemetry smaller, so 8 KiB leaves room for firmware that adds fields while
    # a 20 MiB publish is refused before it is parsed. Brokers SIAGA configures refuse a packet
    # above this plus ``mqtt_packet_overhead_bytes`` (Mosquitto ``max_packet_size``, the
    # embedded broker likewise), so in production an oversized payload never reaches the gateway.
    max_payload_bytes: int = Field(default=8192, ge=1024)
    # Room for the PUBLISH header and topic (<root>/devices/<64-char id>/telemetry) in a packet.
    mqtt_packet_overhead_bytes: int = Field(default=1024, ge=256)
    # A refused payload is kept in ``dead_letter`` up to this many bytes, with its full length
    # and SHA-256: enough to see what a device sent, never megabytes per refusal.
    dead_letter_keep_bytes: int = Field(default=4096, ge=0)
    drain_timeout_s: float = 10.0

    # --- telemetry retention (gateway/retention.py) -----------------------------------------
    # Raw readings older than this are rolled up per device and hour, then deleted; roll-ups
    # are kept longer. None keeps everything. Pruning runs in the gateway role, in batches.
    telemetry_keep_days: float | None = 30.0
    telemetry_rollup_keep_days: float | None = 730.0
    retention_interval_s: float = 3600.0
    retention_batch_rows: int = Field(default=10_000, ge=100)
    retention_pause_ms: float = 50.0

    # --- geolocation ---------------------------------------------------------
    gps_max_age_s: int = 300
    gps_max_accuracy_m: float = 500.0
    last_known_max_age_s: int = 3600
    nearest_area_max_m: float = 100.0

    # --- dispatch, consoles and sign-in -------------------------------------------------------
    # An incident still 'new' this long after it was created is re-announced and raised to
    # the supervisors; after the second limit also to the command centre and parent agencies.
    escalate_supervisor_s: float = 60.0
    escalate_command_centre_s: float = 120.0
    # Acknowledged but not on scene this long after the acknowledgement -> flagged.
    on_scene_flag_s: float = 900.0
    # How often the dispatch loop looks for work when no NOTIFY wakes it.
    dispatch_poll_s: float = 1.0
    # The weekly PDF reports (dashboard/reports.py), made Monday 07:00 WIB by the dispatch role;
    # False turns the schedule off (reports can still be made on demand on /dasbor/laporan).
    report_schedule: bool = True
    # Sessions expire after this long without a request, and in any case after the maximum.
    session_idle_s: int = 4 * 3600
    session_max_s: int = 12 * 3600
    # Failed logins allowed per user name and per client address within the window.
    login_max_failures: int = 5
    login_ip_max_failures: int = 30
    login_window_s: int = 900
    # Set when the console is served over HTTPS (marks the session cookie Secure).
    cookie_secure: bool = False
    # Map tiles for the console when the centre is online; unset = desa boundaries only.
    console_tile_url: str | None = None
    console_tile_attribution: str = ""

    # --- ingress: OsmAnd, GT06 trackers, the citizen app API -----------------------------------
    # Trackers reach these ports from the internet; bind 0.0.0.0 in production.
    tracker_host: str = "127.0.0.1"
    osmand_port: int = 5055
    osmand_max_connections: int = 2000
    osmand_max_body_bytes: int = 65536
    # A request must arrive complete (headers) this long after connect or the previous response,
    # and its body within the second limit: slow-loris connections are closed.
    osmand_header_timeout_s: float = 15.0
    osmand_body_timeout_s: float = 15.0
    gt06_port: int = 5023
    gt06_max_connections: int = 5000
    gt06_max_frame_bytes: int = 1024
    # Log in within this long of connecting; a started frame must complete within the frame limit;
    # silence longer than the idle limit (trackers heartbeat every 3-5 minutes) closes the connection.
    gt06_login_timeout_s: float = 30.0
    gt06_frame_timeout_s: float = 30.0
    gt06_idle_timeout_s: float = 600.0
    # Refused frames (bad CRC, garbage...) one connection may send before it is closed.
    gt06_max_refusals: int = 32
    app_code_ttl_s: int = 600
    app_code_max_attempts: int = 5
    app_register_per_phone_per_hour: int = 5
    # Token buckets: sustained alerts per minute and burst, per app install and per client address.
    app_alert_per_min: float = 6.0
    app_alert_burst: int = 10
    app_ip_per_min: float = 60.0
    app_ip_burst: int = 120
    app_long_poll_max_s: float = 30.0

    # --- complaints: working-day SLA ----------------------------------------------------------
    complaint_verification_days: int = 3
    complaint_followup_days: int = 5
    complaint_response_days: int = 10
    # a red complaint goes to the Sekda this many working days after its OPD head was told
    complaint_sekda_after_days: int = 2
    # how often the SLA sweep runs in the web role; 0 turns it off
    complaint_sweep_s: float = 60.0
    # Citizen actions on /status/{tracking} (each needs the complaint's secret): requests allowed
    # per client address and per complaint within their windows (0 turns a limit off).
    status_act_ip_max: int = 10
    status_act_ip_window_s: float = 60.0
    status_act_complaint_max: int = 20
    status_act_complaint_window_s: float = 3600.0
    # New complaints through POST /lapor: per client address, and per reporter phone or email.
    lapor_ip_max: int = 20
    lapor_ip_window_s: float = 3600.0
    lapor_contact_max: int = 5
    lapor_contact_window_s: float = 3600.0
    # The address citizens reach SIAGA at (e.g. https://siaga.wonosobokab.go.id), for the status
    # link sent by SMS; unset, the message carries the tracking number and the code only (the
    # request's Host header is the sender's to choose, so it never goes into a message).
    public_url: str | None = None

    # --- duty roster and console presence ------------------------------------------------------
    # A console's WebSocket refreshes its presence row this often (and is pinged at this rate);
    # a row not refreshed within the staleness window (a killed web process) counts as gone.
    presence_beat_s: float = 2.0
    presence_stale_s: float = 7.0
    # Agencies with a duty roster (shift patterns) hand incidents to the command centre at once
    # when no one of theirs is present; True applies that to every agency.
    presence_watch_all: bool = False

    # --- scale-out: several gateways on one share group ----------------------------------------
    # Names this gateway among its peers. With a share group each gateway keeps persistent
    # broker sessions of its own, so the name must be unique and stable across restarts; unset =
    # the host name (a container's hostname under `docker compose up --scale gateway=N`).
    gateway_id: str | None = None
    # Whether the gateway role also holds the telemetry session. false: telemetry is taken by
    # `siaga run --role telemetry` in a process of its own, so a telemetry flood cannot hold up
    # alerts in the gateway's event loop (docker-compose.yml runs it so).
    gateway_telemetry: bool = True

    @field_validator("mqtt_share_group", "gateway_id")
    @classmethod
    def _topic_safe(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
            raise ValueError(f"{value!r}: use 1-64 of A-Z a-z 0-9 . _ - (it goes into MQTT topics and client ids)")
        return value

    @property
    def mqtt_max_packet_bytes(self) -> int:
        """The broker's limit on one MQTT packet (payload plus header and topic)."""
        return self.max_payload_bytes + self.mqtt_packet_overhead_bytes

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
