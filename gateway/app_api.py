"""The citizen app API: register a phone, get a per-install token, send alerts, follow them.

Routes (added by :func:`setup`; the web role mounts them on its one HTTP port):

- ``POST /api/v1/apps/register`` ``{"phone"}`` -> 202 ``{"registration_id", "expires_in"}``; a
  one-time code goes to the phone through the :class:`CodeSender` in ``app[CODE_SENDER]`` (the
  default one logs it: development only).
- ``POST /api/v1/apps/verify`` ``{"registration_id", "code", "platform"?}`` -> 201
  ``{"token", "device_id"}``. Each install is a ``device`` row of kind ``app``; only the token's
  SHA-256 is stored.
- ``POST /api/v1/alerts`` (``Authorization: Bearer <token>``): the alert JSON of the wire contract
  plus optional ``note`` and ``phone``. Idempotent by ``(install, seq)``; an app that keeps no
  counter sends an ``Idempotency-Key`` header instead (the seq is then derived from it). 201 for a
  new incident, 200 for a repeat, both ``{"incident_id", "number", "state", "state_url"}``.
  Rate-limited per install, and per client address for registration and refused tokens (not for
  authenticated alerts: carrier-grade NAT puts many phones behind one address): 429 with
  ``Retry-After``.
- ``GET /api/v1/alerts/{incident_id}/state?wait=25&since=received``: the incident's state as the
  device is told it (``received``, ``acknowledged``, ``dispatched``, ``on_scene``, ``resolved``,
  ``false_alarm``, ``handed_to_complaints``); with ``wait`` a long poll that answers as soon as the
  state differs from ``since`` (or when ``wait`` seconds have passed).

The alert goes through the same :class:`~gateway.store.AlertPipeline` as MQTT alerts, taken from
``app[appkeys.ALERT_PIPELINE]``; the pool and settings are the pipeline's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import orjson
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from core import appkeys, auth, params
from core.sender import LoggingSender, PhoneSender
from core.settings import Settings
from gateway.payloads import AlertIn
from gateway.store import OVERSIZE, AlertPipeline, DeviceRefused, PayloadRefused

log = logging.getLogger(__name__)
_H = TypeVar("_H", bound=Callable[[web.Request], Awaitable[web.Response]])

CHANNEL = "app"
MAX_BODY = 16 * 1024
MAX_NOTE = 1000
# what an oversized alert body leaves in the dead letter (the pipeline bounds it again)
_DEAD_LETTER_HEAD = 4096
_DEAD_LETTER_READ_S = 2.0
LONG_POLL_STEP_S = 1.0
# The longest an alert waits for the pipeline (the database away) before a 503.
STORE_TIMEOUT_S = 30.0


# the sender moved to core (the complaint pipeline sends the reporter's status link through it too)
CodeSender = PhoneSender
LoggingCodeSender = LoggingSender


CODE_SENDER = appkeys.PHONE_SENDER

# incident.state -> the state the sender is told (DESIGN.md down topic, plus the complaint handover)
WIRE_STATES = {
    "new": "received",
    "acknowledged": "acknowledged",
    "dispatched": "dispatched",
    "on_scene": "on_scene",
    "resolved": "resolved",
    "false_alarm": "false_alarm",
    "handed_to_complaints": "handed_to_complaints",
}
STATE_LABELS = {
    "received": "Diterima pusat kendali",
    "acknowledged": "Dikonfirmasi petugas",
    "dispatched": "Petugas dalam perjalanan",
    "on_scene": "Petugas di lokasi",
    "resolved": "Selesai ditangani",
    "false_alarm": "Dinyatakan alarm palsu",
    "handed_to_complaints": "Diteruskan sebagai pengaduan",
}


# ---- pure helpers ---------------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"[\s().-]")
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def normalize_phone(text: str) -> str | None:
    """An Indonesian or international number -> E.164 (``+62812...``); None if not a number."""
    digits = _PHONE_CHARS.sub("", text.strip())
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = "62" + digits[1:]
    if not digits.isascii() or not digits.isdigit() or digits[0] == "0":  # not "٠٨١٢..." (Arabic-Indic)
        return None
    if digits.startswith("62") and not 10 <= len(digits) <= 15:
        return None
    if not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def _scalar_text(value: object) -> str:
    """A JSON member as text; "" for null, lists and objects (str() of one nested 1000 deep, which
    orjson allows, raises RecursionError)."""
    if value is None or isinstance(value, list | dict):
        return ""
    return str(value)


def mask_phone(phone: str) -> str:
    return phone[:6] + "*" * max(0, len(phone) - 9) + phone[-3:]


def token_hash(token: str) -> bytes:
    # surrogatepass: aiohttp hands over header bytes that are not UTF-8 as lone surrogates
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def code_hash(registration_id: uuid.UUID, code: str) -> bytes:
    return hashlib.sha256(registration_id.bytes + code.encode("utf-8", "surrogatepass")).digest()


def seq_from_key(key: str) -> int:
    """A stable alert seq for an ``Idempotency-Key`` (63-bit hash, within the seq range)."""
    # surrogatepass: a header that is not UTF-8 arrives with lone surrogates; same bytes otherwise
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big") >> 2


class TokenBuckets:
    """Per-key token buckets (sustained ``per_s``, up to ``burst``), at most ``max_keys`` kept."""

    def __init__(self, per_s: float, burst: int, max_keys: int = 100_000) -> None:
        self.per_s = per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        """0 when allowed (one token taken), else the seconds until a token is there."""
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_s)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.per_s if self.per_s > 0 else 3600.0

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        # forgetting the least recently seen key only ever gives a client a full bucket again
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


# ---- state and errors -----------------------------------------------------------------------


class AppApiState:
    """The rate limiters; sized from the pipeline's settings on first use (the pipeline is put in
    the app by the web role's startup, after :func:`setup`)."""

    def __init__(self) -> None:
        self._limits: tuple[TokenBuckets, TokenBuckets] | None = None

    def limits(self, settings: Settings) -> tuple[TokenBuckets, TokenBuckets]:
        if self._limits is None:
            self._limits = (
                TokenBuckets(settings.app_alert_per_min / 60.0, settings.app_alert_burst),
                TokenBuckets(settings.app_ip_per_min / 60.0, settings.app_ip_burst),
            )
        return self._limits


# --- the shapes of the OpenAPI document (the handlers read the bodies themselves, as dead letters
# need the raw bytes) --------------------------------------------------------------------------

# the states a device is told of (WIRE_STATES' values)
_WIRE_STATE = Field(json_schema_extra={"enum": list(STATE_LABELS)})


class RegisterIn(BaseModel):
    phone: str = Field(description="Indonesian mobile number, e.g. 0812... or +62812...")


class RegisterOut(BaseModel):
    registration_id: uuid.UUID
    expires_in: int


class VerifyIn(BaseModel):
    registration_id: uuid.UUID
    code: str = Field(description="the six digits sent to the phone")
    platform: str | None = Field(default=None, max_length=40)


class VerifyOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>'")
    device_id: str


class AlertBody(AlertIn):
    seq: int | None = Field(
        default=None, ge=0, le=2**62, description="required unless an Idempotency-Key header is sent"
    )
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    phone: str | None = None


class AlertReceipt(BaseModel):
    incident_id: uuid.UUID
    number: int
    seq: int
    duplicate: bool
    state: str = _WIRE_STATE
    label: str
    state_url: str


class AlertStateOut(BaseModel):
    incident_id: uuid.UUID
    number: int
    state: str = _WIRE_STATE
    label: str
    updated_at: datetime


_RATE_LIMITED = "too many requests from this address (Retry-After says when to try again)"


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _too_many(retry_after: float, what: str) -> web.Response:
    seconds = max(1, int(retry_after + 0.999))
    resp = _error(
        429,
        "rate_limited",
        f"Terlalu banyak permintaan ({what}); coba lagi dalam {seconds} detik.",
        retry_after=seconds,
    )
    resp.headers["Retry-After"] = str(seconds)
    return resp


def _pipeline(request: web.Request) -> AlertPipeline:
    return request.app[appkeys.ALERT_PIPELINE]


def _limits(request: web.Request) -> tuple[TokenBuckets, TokenBuckets]:
    """(per install, per client address)"""
    return request.app[appkeys.APP_API_STATE].limits(_pipeline(request).settings)


def _client_ip(request: web.Request) -> str:
    # Behind a reverse proxy, configure aiohttp's forwarded-header handling there; do not trust
    # X-Forwarded-For from the internet here.
    return request.remote or "?"


def _ip_limited(request: web.Request) -> web.Response | None:
    """The per-address limit. Registration and verification are charged on every call, requests
    with a token only when the token is refused (see :func:`_install`), and a valid token is never
    stopped by it: many phones share one carrier-grade NAT address in Indonesia, and neither their
    alerts nor someone guessing tokens from the same address may stop them."""
    wait = _limits(request)[1].take(_client_ip(request), time.monotonic())
    return _too_many(wait, "alamat ini") if wait else None


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object a registration step sends, once its address is within its rate limit."""
    if limited := _ip_limited(request):
        return limited
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", "Permintaan terlalu besar.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error(400, "malformed_json", "Isi permintaan bukan JSON yang sah.")
    if not isinstance(body, dict):
        return _error(400, "invalid", "Isi permintaan harus berupa objek JSON.")
    return body


def _app_route(summary: str, **doc: Any) -> Callable[[_H], _H]:
    """A route of the citizen app, described under the "app" tag. Public to the web sign-in: the
    app authenticates with its own install token, checked in the handler; a body it cannot read is a 400."""

    def wrap(handler: _H) -> _H:
        return auth.public(auth.describe(summary, tags=["app"], body_status=400, **doc)(handler))

    return wrap


# ---- registration ---------------------------------------------------------------------------


@_app_route(
    "Register a phone: a one-time code is sent to it",
    request=RegisterIn,
    response=RegisterOut,
    ok={202: "the code is on its way"},
    errors={
        400: "not a phone number",
        429: _RATE_LIMITED + ", or too many registrations of this number in an hour",
        502: "the code could not be sent",
    },
)
async def register(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    phone = normalize_phone(_scalar_text(body.get("phone")))
    if phone is None:
        return _error(400, "invalid_phone", "Nomor telepon tidak sah.")
    pipeline = _pipeline(request)
    settings = pipeline.settings
    code = f"{secrets.randbelow(1_000_000):06d}"
    registration_id = uuid.uuid4()
    async with pipeline.pool.acquire() as conn, conn.transaction():
        # serialise registrations of one phone so the hourly cap holds under concurrency
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('app_registration:' || $1))", phone)
        recent = await conn.fetchval(
            "SELECT count(*) FROM app_registration WHERE phone = $1 AND created_at > now() - interval '1 hour'",
            phone,
        )
        if recent >= settings.app_register_per_phone_per_hour:
            return _too_many(3600.0, "nomor ini")
        await conn.execute(
            """INSERT INTO app_registration (id, phone, code_hash, client_ip, expires_at)
               VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))""",
            registration_id,
            phone,
            code_hash(registration_id, code),
            _client_ip(request),
            float(settings.app_code_ttl_s),
        )
    sender = request.app.get(CODE_SENDER) or LoggingCodeSender()
    try:
        async with asyncio.timeout(30):
            await sender.send_code(phone, code)
    except (OSError, TimeoutError) as e:
        log.warning("could not send the code of registration %s: %r", registration_id, e)
        return _error(502, "code_not_sent", "Kode verifikasi tidak dapat dikirim; coba lagi nanti.")
    log.info("app registration %s for %s", registration_id, mask_phone(phone))
    return web.json_response(
        {"registration_id": str(registration_id), "expires_in": settings.app_code_ttl_s}, status=202
    )


@_app_route(
    "Verify the code; returns the install token",
    request=VerifyIn,
    response=VerifyOut,
    ok={201: "the install and its token"},
    errors={
        400: "a registration_id that is not a UUID, or a wrong code (attempts_left)",
        403: "too many wrong codes: register again",
        404: "no such registration",
        409: "the code was used already",
        410: "the code has expired",
        429: _RATE_LIMITED,
    },
)
async def verify(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        registration_id = uuid.UUID(_scalar_text(body.get("registration_id")))
    except ValueError:
        return _error(400, "invalid", "registration_id tidak sah.")
    code = _scalar_text(body.get("code")).strip()
    # PostgreSQL text takes no NUL; control characters have no place in a platform name
    platform = _CONTROL_CHARS.sub("", _scalar_text(body.get("platform")))[:40] or None
    pipeline = _pipeline(request)
    max_attempts = pipeline.settings.app_code_max_attempts
    async with pipeline.pool.acquire() as conn, conn.transaction():
        reg = await conn.fetchrow("SELECT * FROM app_registration WHERE id = $1 FOR UPDATE", registration_id)
        if reg is None:
            return _error(404, "unknown_registration", "Pendaftaran tidak ditemukan.")
        if reg["verified_at"] is not None:
            return _error(409, "already_verified", "Kode ini sudah dipakai; daftar ulang.")
        if reg["expires_at"] < datetime.now(UTC):
            return _error(410, "expired", "Kode sudah kedaluwarsa; daftar ulang.")
        if reg["attempts"] >= max_attempts:
            return _error(403, "too_many_attempts", "Terlalu banyak percobaan; daftar ulang.")
        if not hmac.compare_digest(bytes(reg["code_hash"]), code_hash(registration_id, code)):
            await conn.execute("UPDATE app_registration SET attempts = attempts + 1 WHERE id = $1", registration_id)
            left = max_attempts - reg["attempts"] - 1
            return _error(400, "wrong_code", "Kode salah.", attempts_left=left)
        token = secrets.token_urlsafe(32)
        device_id = f"app-{secrets.token_hex(8)}"
        await conn.execute("UPDATE app_registration SET verified_at = now() WHERE id = $1", registration_id)
        await conn.execute(
            "INSERT INTO device (id, name, description, kind) VALUES ($1, $2, $3, 'app')",
            device_id,
            f"Aplikasi warga {mask_phone(reg['phone'])}",
            f"Dipasang {platform or 'tanpa keterangan'}",
        )
        await conn.execute(
            """INSERT INTO app_install (device_id, registration_id, phone, token_hash, platform)
               VALUES ($1, $2, $3, $4, $5)""",
            device_id,
            registration_id,
            reg["phone"],
            token_hash(token),
            platform,
        )
    log.info("app install %s verified for %s", device_id, mask_phone(reg["phone"]))
    return web.json_response({"token": token, "device_id": device_id}, status=201)


# ---- alerts ---------------------------------------------------------------------------------


async def _install(request: web.Request, conn: asyncpg.Connection) -> asyncpg.Record | web.Response:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _token_refused(request, "Token aplikasi diperlukan.", 'Bearer realm="siaga"')
    row = await conn.fetchrow(
        "SELECT * FROM app_install WHERE token_hash = $1 AND revoked_at IS NULL", token_hash(token.strip())
    )
    if row is None:
        return _token_refused(
            request, "Token aplikasi tidak dikenal atau dicabut.", 'Bearer realm="siaga", error="invalid_token"'
        )
    return row


def _token_refused(request: web.Request, message: str, challenge: str) -> web.Response:
    if limited := _ip_limited(request):  # a refused request costs its address a token
        return limited
    resp = _error(401, "unauthorized", message)
    resp.headers["WWW-Authenticate"] = challenge
    return resp


def _state_url(incident_id: uuid.UUID) -> str:
    return f"/api/v1/alerts/{incident_id}/state"


@_app_route(
    "Send an alert (idempotent by seq, or by the Idempotency-Key header)",
    request=AlertBody,
    response=AlertReceipt,
    ok={200: "a repeat of an alert already received", 201: "a new incident"},
    security="appToken",
    errors={
        400: "the alert cannot be read or stored (kept as a dead letter)",
        401: "no install token, or an unknown or revoked one",
        403: "this install is disabled",
        429: "too many alerts from this install, or too many refused tokens from this address",
        503: "not stored yet (the database is away); the app retries with the same seq",
    },
)
async def post_alert(request: web.Request) -> web.Response:
    received_at = datetime.now(UTC)
    pipeline = _pipeline(request)
    async with pipeline.pool.acquire() as conn:
        install = await _install(request, conn)
    if isinstance(install, web.Response):
        return install
    wait = _limits(request)[0].take(str(install["id"]), time.monotonic())
    if wait:
        return _too_many(wait, "aplikasi ini")
    declared = request.content_length
    try:
        if declared is not None and declared > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=declared)
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        # Refused before it is read in full (declared too long, or a chunked body that grew past the
        # limit): what is on record is the first bytes and the declared length, never the body.
        head = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DEAD_LETTER_READ_S):  # a sender that stalls leaves nothing
                head = await request.content.read(_DEAD_LETTER_HEAD)
        await pipeline.dead_letter(
            channel=CHANNEL,
            reason=OVERSIZE,
            payload=head,
            device_id=install["device_id"],
            detail=f"body over the limit of {MAX_BODY} bytes (Content-Length {declared}); not read",
        )
        return _error(413, "too_large", "Permintaan terlalu besar.")
    outcome = _decode_alert(raw, request.headers.get("Idempotency-Key"))
    if isinstance(outcome, tuple):
        reason, detail = outcome
        await pipeline.dead_letter(
            channel=CHANNEL, reason=reason, payload=raw, device_id=install["device_id"], detail=detail
        )
        return _error(400, reason, "Peringatan tidak dapat dibaca.", detail=detail)
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            receipt = await pipeline.submit_alert(
                install["device_id"], outcome, channel=CHANNEL, raw=raw, received_at=received_at
            )
    except PayloadRefused as e:  # the database refused what it carries (a NUL); already dead-lettered
        return _error(400, e.reason, "Peringatan tidak dapat disimpan; isinya ditolak.")
    except DeviceRefused as e:  # disabled by the admin; already dead-lettered
        return _error(403, e.reason, "Aplikasi ini dinonaktifkan.")
    except TimeoutError:
        # the app retries with the same seq / key; what was queued still commits, once
        resp = _error(503, "unavailable", "Peringatan belum tersimpan; aplikasi akan mencoba lagi.")
        resp.headers["Retry-After"] = "5"
        return resp
    async with pipeline.pool.acquire() as conn:
        await conn.execute("UPDATE app_install SET last_seen_at = $2 WHERE id = $1", install["id"], received_at)
        state = await conn.fetchval("SELECT state FROM incident WHERE id = $1", receipt.incident_id)
    wire = WIRE_STATES.get(state, "received")
    return web.json_response(
        {
            "incident_id": str(receipt.incident_id),
            "number": receipt.number,
            "seq": receipt.seq,
            "duplicate": receipt.duplicate,
            "state": wire,
            "label": STATE_LABELS[wire],
            "state_url": _state_url(receipt.incident_id),
        },
        status=200 if receipt.duplicate else 201,
    )


def _decode_alert(raw: bytes, idempotency_key: str | None) -> AlertIn | tuple[str, str]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "malformed_json", "isi bukan JSON yang sah"  # (the payload itself is dead-lettered)
    if not isinstance(body, dict):
        return "invalid", "isi harus berupa objek JSON"
    note, phone = body.pop("note", None), body.pop("phone", None)
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        return "invalid", f"isian 'note' harus teks, paling banyak {MAX_NOTE} karakter"
    if phone is not None and (not isinstance(phone, str) or normalize_phone(phone) is None):
        return "invalid", "isian 'phone' bukan nomor telepon"
    if body.get("seq") is None:
        key = (idempotency_key or "").strip()
        if not key or len(key) > 200:
            return "invalid", "isian 'seq' atau kepala Idempotency-Key (1 sampai 200 karakter) wajib ada"
        body["seq"] = seq_from_key(key)
    try:
        return AlertIn.model_validate(body)
    except ValidationError as e:
        return "invalid", "; ".join(err["msg"] for err in params.validation_detail(e)[:5])


@_app_route(
    "The state of one of this install's alerts; with wait, a long poll until it differs from since",
    response=AlertStateOut,
    query={"wait": "seconds to wait for a change (capped by the server)", "since": "the state the app knows"},
    params={
        "incident_id": {"type": "string", "format": "uuid"},
        "wait": {"type": "number", "minimum": 0, "maximum": 60},
        "since": {"type": "string", "enum": list(STATE_LABELS)},
    },
    security="appToken",
    errors={
        400: "incident_id is not a UUID, or wait is not a number",
        401: "no install token, or an unknown or revoked one",
        404: "no such incident of this install",
        429: "too many refused tokens from this address",
    },
)
async def alert_state(request: web.Request) -> web.Response:
    try:
        incident_id = uuid.UUID(request.match_info["incident_id"])
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        return _error(400, "invalid", "Parameter tidak sah.")
    pipeline = _pipeline(request)
    wait = max(0.0, min(wait, pipeline.settings.app_long_poll_max_s))
    since = request.query.get("since")
    deadline = time.monotonic() + wait
    async with pipeline.pool.acquire() as conn:
        install = await _install(request, conn)
    if isinstance(install, web.Response):
        return install
    while True:
        async with pipeline.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT id, number, state, updated_at FROM incident WHERE id = $1 AND device_id = $2",
                incident_id,
                install["device_id"],
            )
        if row is None:
            return _error(404, "unknown_incident", "Kejadian tidak ditemukan.")
        wire = WIRE_STATES.get(row["state"], "received")
        left = deadline - time.monotonic()
        if wire != since or left <= 0:
            return web.json_response(
                {
                    "incident_id": str(row["id"]),
                    "number": row["number"],
                    "state": wire,
                    "label": STATE_LABELS[wire],
                    "updated_at": row["updated_at"].isoformat(),
                }
            )
        # A poll of one indexed row per second per waiting phone: cheap at a regency's scale,
        # and needs no listener connection per request.
        await asyncio.sleep(min(LONG_POLL_STEP_S, left))


def setup(app: web.Application) -> None:
    """Add the app API routes. The caller sets ``app[appkeys.ALERT_PIPELINE]`` (and optionally ``app[CODE_SENDER]``)
    before serving; the body limit of ``MAX_BODY`` applies to these routes."""
    app[appkeys.APP_API_STATE] = AppApiState()
    app.router.add_post("/api/v1/apps/register", _limited_body(register))
    app.router.add_post("/api/v1/apps/verify", _limited_body(verify))
    app.router.add_post("/api/v1/alerts", _limited_body(post_alert, records_oversize=True))
    app.router.add_get("/api/v1/alerts/{incident_id}/state", alert_state)


def _limited_body(handler: Any, *, records_oversize: bool = False) -> Any:
    """``records_oversize``: the handler refuses (and dead-letters) an oversized body itself,
    once it knows which app sent it; unauthenticated routes are refused here, unrecorded."""

    @functools.wraps(handler)  # keeps the handler's access rule too
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not records_oversize and request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, "too_large", "Permintaan terlalu besar.")
        return await handler(request)

    # core.params' guard reads the body (to check its text) under this limit before any handler
    return params.max_body(MAX_BODY)(wrapped)


__all__ = [
    "CODE_SENDER",
    "CodeSender",
    "LoggingCodeSender",
    "TokenBuckets",
    "normalize_phone",
    "setup",
]
