"""Users, roles, sessions and the per-route access rules of the web application.

* Passwords are argon2 hashes; hashing runs in a thread so the event loop never stalls.
* Sessions live in the database (only a SHA-256 of the token is stored). The web console
  carries the token in an HttpOnly cookie, API clients as ``Authorization: Bearer``.
* Unsafe requests authenticated by the cookie must carry the session's CSRF token
  (``X-CSRF-Token`` header or a ``csrf_token`` form field); bearer requests need none.
* Failed logins are counted per user name and per client address and refused above a limit.
* Every route declares who may call it with :func:`allow` / :func:`public`; the middleware
  refuses a route that declares nothing, and :func:`routes_without_rule` lets a test list them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import argon2
import asyncpg
import orjson
from aiohttp import web

from core import appkeys, audit, ratelimit
from core.roles import USER_ROLES, Role
from core.settings import Settings

log = logging.getLogger(__name__)


SESSION_COOKIE = "siaga_session"
LOGIN_CSRF_COOKIE = "siaga_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# argon2id, RFC 9106's low-memory profile (64 MiB, t=3, p=4): above OWASP's minimum (19 MiB, t=2,
# p=1). Pinned here rather than left to the library's default, so an upgrade cannot weaken it; a
# hash made with other parameters is replaced at the owner's next successful sign-in.
_hasher = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)
# Verified against when the user name is unknown, so the answer takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AuthError(Exception):
    """A refused sign-in or user change; ``code`` is stable, for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class User:
    id: int
    username: str
    full_name: str
    role: Role
    agency_id: int | None
    # the agencies whose parent is ``agency_id`` (a Polres's Polsek): a supervisor bound to an
    # agency oversees these too (dispatch/visibility.py incident_scope)
    child_agency_ids: frozenset[int] = frozenset()

    def actor(self, client_ip: str | None = None) -> audit.Actor:
        return audit.Actor(username=self.username, user_id=self.id, role=self.role.value, client_ip=client_ip)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "full_name": self.full_name,
            "role": self.role.value,
            "agency_id": self.agency_id,
        }


@dataclass(frozen=True)
class Session:
    user: User
    kind: str  # 'web' | 'api'
    csrf_token: str
    expires_at: datetime
    via_cookie: bool = False


USER = web.RequestKey("siaga_user", User)
SESSION = web.RequestKey("siaga_session", Session)


# --- passwords and users ----------------------------------------------------------------------


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with other (older, weaker) parameters than :func:`hash_password`'s."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except argon2.exceptions.InvalidHashError:
        return True


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def _user(row: asyncpg.Record) -> User:
    children = row.get("child_agency_ids") or ()
    return User(row["id"], row["username"], row["full_name"], Role(row["role"]), row["agency_id"], frozenset(children))


def check_password_rules(password: str) -> None:
    """The one rule a new password meets (a new user's, or one an admin sets)."""
    if len(password) < 8:
        raise AuthError("weak_password", "Kata sandi minimal 8 karakter.")


async def create_user(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    role: str,
    agency_id: int | None = None,
    full_name: str = "",
    *,
    actor: audit.Actor = audit.SYSTEM,
) -> User:
    """Add a user (audited). Operators need an agency, OPD officers an agency of kind 'opd'."""
    username = username.strip().lower()
    if "\x00" in username or "\x00" in full_name:
        raise AuthError("bad_username", "Nama tidak boleh memuat karakter NUL.")
    try:
        role_ = Role(role)
        if role_ not in USER_ROLES:
            raise ValueError(role)
    except ValueError:
        known = ", ".join(sorted(USER_ROLES))
        raise AuthError("bad_role", f"Peran {role!r} tidak dikenal; pilih salah satu: {known}.") from None
    check_password_rules(password)
    if role_ in (Role.OPERATOR, Role.OPD_OFFICER) and agency_id is None:
        who = "Operator" if role_ is Role.OPERATOR else "Petugas OPD"
        raise AuthError("agency_required", f"{who} harus terdaftar pada sebuah instansi.")
    if agency_id is not None:
        kind = await conn.fetchval("SELECT kind FROM agency WHERE id = $1", agency_id)
        if kind is None:
            raise AuthError("no_such_agency", f"Instansi dengan nomor {agency_id} tidak ada.")
        if role_ is Role.OPD_OFFICER and kind != "opd":
            raise AuthError("agency_not_opd", "Petugas OPD harus terdaftar pada instansi berjenis OPD.")
        if role_ is Role.OPERATOR and kind == "opd":
            raise AuthError("agency_is_opd", "Operator harus terdaftar pada instansi tanggap darurat, bukan OPD.")
    password_hash = await hash_password(password)
    async with conn.transaction():
        try:
            row = await conn.fetchrow(
                """INSERT INTO app_user (username, full_name, password_hash, role, agency_id)
                   VALUES ($1, $2, $3, $4, $5)
                   RETURNING id, username, full_name, role, agency_id""",
                username,
                full_name,
                password_hash,
                role_.value,
                agency_id,
            )
        except asyncpg.UniqueViolationError:
            raise AuthError("username_taken", f"Nama pengguna {username!r} sudah dipakai.") from None
        except asyncpg.CheckViolationError:
            raise AuthError("bad_username", f"Nama pengguna {username!r} tidak dapat dipakai.") from None
        user = _user(row)
        after = user.public()
        await audit.record(conn, actor, "user.create", object_type="user", object_id=str(user.id), after=after)
    return user


async def set_user_active(conn: asyncpg.Connection, user_id: int, active: bool, *, actor: audit.Actor) -> None:
    """Deactivate (their sessions end with it) or reactivate a user, audited. An admin cannot
    deactivate their own account: nobody would be left to undo it."""
    if not active and actor.user_id == user_id:
        raise AuthError("self_deactivate", "Anda tidak dapat menonaktifkan akun Anda sendiri.")
    async with conn.transaction():
        row = await conn.fetchrow("SELECT active FROM app_user WHERE id = $1 FOR UPDATE", user_id)
        if row is None:
            raise AuthError("no_such_user", "Pengguna itu tidak ada.")
        if row["active"] == active:
            state = "aktif" if active else "nonaktif"
            raise AuthError("unchanged", f"Pengguna itu sudah {state}.")
        await conn.execute("UPDATE app_user SET active = $2 WHERE id = $1", user_id, active)
        if not active:
            await _revoke_sessions(conn, user_id)
        await audit.record(
            conn,
            actor,
            "user.reactivate" if active else "user.deactivate",
            object_type="user",
            object_id=str(user_id),
            before={"active": not active},
            after={"active": active},
        )


async def reset_password(conn: asyncpg.Connection, user_id: int, password: str, *, actor: audit.Actor) -> None:
    """Set a user's password (same rule as a new user's), audited; their open sessions end, so
    whoever knew the old password is signed out too."""
    check_password_rules(password)
    password_hash = await hash_password(password)
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE app_user SET password_hash = $2, password_changed_at = now() WHERE id = $1",
            user_id,
            password_hash,
        )
        if status == "UPDATE 0":
            raise AuthError("no_such_user", "Pengguna itu tidak ada.")
        await _revoke_sessions(conn, user_id)
        await audit.record(conn, actor, "user.password_reset", object_type="user", object_id=str(user_id))


async def _revoke_sessions(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute(
        "UPDATE user_session SET revoked_at = clock_timestamp() WHERE user_id = $1 AND revoked_at IS NULL", user_id
    )


# --- sessions ---------------------------------------------------------------------------------


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def login(
    conn: asyncpg.Connection,
    settings: Settings,
    username: str,
    password: str,
    *,
    kind: str = "web",
    client_ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, Session]:
    """Check a password and open a session; returns (token, session). Raises :class:`AuthError`."""
    username = username.strip().lower()[:64]
    if "\x00" in username:  # PostgreSQL text cannot hold NUL, and no account name has one
        raise AuthError("bad_credentials", "Nama pengguna atau kata sandi salah.")
    # failures count against the user name and the address (core/ratelimit.py, the one limiter)
    limits = [ratelimit.Limit("login.user", username, settings.login_max_failures, settings.login_window_s)]
    if client_ip is not None:
        limits.append(ratelimit.Limit("login.ip", client_ip, settings.login_ip_max_failures, settings.login_window_s))
    if await ratelimit.exceeded(conn, limits) is not None:
        await audit.record(
            conn,
            audit.Actor(username=username, client_ip=client_ip),
            "login.rate_limited",
            object_type="user",
            object_id=username,
        )
        raise AuthError("rate_limited", "Terlalu banyak percobaan gagal. Coba lagi nanti.")

    row = await conn.fetchrow(
        """SELECT id, username, full_name, role, agency_id, password_hash,
                  array(SELECT g.id FROM agency g WHERE g.parent_id = u.agency_id) AS child_agency_ids
             FROM app_user u WHERE username = $1 AND active""",
        username,
    )
    ok = await verify_password(row["password_hash"] if row else _DUMMY_HASH, password)
    ok = ok and row is not None
    # hashed outside the transaction: argon2 takes a while on purpose
    rehashed = await hash_password(password) if ok and row and password_needs_rehash(row["password_hash"]) else None
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO login_attempt (username, client_ip, ok) VALUES ($1, $2, $3)", username, client_ip, ok
        )
        actor = audit.Actor(
            username=username,
            user_id=row["id"] if row else None,
            role=row["role"] if row else None,
            client_ip=client_ip,
        )
        if not ok or row is None:
            await ratelimit.count(conn, limits)
            await audit.record(conn, actor, "login.failed", object_type="user", object_id=username)
            raise_after = True
        else:
            raise_after = False
            if rehashed is not None:
                await conn.execute(
                    "UPDATE app_user SET password_hash = $2 WHERE id = $1 AND password_hash = $3",
                    row["id"],
                    rehashed,
                    row["password_hash"],
                )
                await audit.record(conn, actor, "user.password_rehash", object_type="user", object_id=str(row["id"]))
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(24)
            expires_at = await conn.fetchval(
                """INSERT INTO user_session (token_hash, user_id, kind, csrf_token, expires_at, client_ip,
                                             user_agent)
                   VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5), $6, $7)
                   RETURNING expires_at""",
                _token_hash(token),
                row["id"],
                kind,
                csrf,
                float(min(settings.session_idle_s, settings.session_max_s)),
                client_ip,
                (user_agent or "")[:300],
            )
            await audit.record(conn, actor, "login", object_type="user", object_id=str(row["id"]), after={"kind": kind})
    if raise_after:
        raise AuthError("bad_credentials", "Nama pengguna atau kata sandi salah.")
    return token, Session(_user(row), kind, csrf, expires_at)


# A session's idle expiry slides at most this often: a write per request would cost a WAL flush
# each and, worse, hold back the event bus of the whole cluster (it waits for open writers).
_TOUCH_EVERY_S = 60.0


async def authenticate(conn: asyncpg.Connection, settings: Settings, token: str) -> Session | None:
    """The live session of ``token``, sliding its idle expiry; None if unknown, expired or revoked."""
    token_hash = _token_hash(token)
    row = await conn.fetchrow(
        """SELECT u.id, u.username, u.full_name, u.role, u.agency_id, s.kind, s.csrf_token, s.expires_at,
                  s.last_seen_at < clock_timestamp() - make_interval(secs => $2) AS stale,
                  -- the agencies under the user's own (a small table): see User.child_agency_ids
                  array(SELECT g.id FROM agency g WHERE g.parent_id = u.agency_id) AS child_agency_ids
             FROM user_session s JOIN app_user u ON u.id = s.user_id
            WHERE s.token_hash = $1 AND u.active
              AND s.revoked_at IS NULL AND s.expires_at > clock_timestamp()""",
        token_hash,
        _TOUCH_EVERY_S,
    )
    if row is None:
        return None
    expires_at = row["expires_at"]
    if row["stale"]:
        expires_at = await conn.fetchval(
            """UPDATE user_session
                  SET last_seen_at = clock_timestamp(),
                      expires_at = LEAST(created_at + make_interval(secs => $2),
                                         clock_timestamp() + make_interval(secs => $3))
                WHERE token_hash = $1
            RETURNING expires_at""",
            token_hash,
            float(settings.session_max_s),
            float(settings.session_idle_s),
        )
    return Session(_user(row), row["kind"], row["csrf_token"], expires_at)


async def logout(conn: asyncpg.Connection, token: str, actor: audit.Actor) -> None:
    async with conn.transaction():
        await conn.execute(
            "UPDATE user_session SET revoked_at = clock_timestamp() WHERE token_hash = $1 AND revoked_at IS NULL",
            _token_hash(token),
        )
        await audit.record(conn, actor, "logout", object_type="user", object_id=str(actor.user_id))


async def purge(conn: asyncpg.Connection, *, keep_s: float = 7 * 86400) -> int:
    """Forget sessions and sign-in attempts that ended more than ``keep_s`` ago (the audit log
    keeps the record of who signed in); returns how many rows went."""
    sessions = await conn.fetchval(
        """WITH gone AS (DELETE FROM user_session
                          WHERE coalesce(revoked_at, expires_at) < clock_timestamp() - make_interval(secs => $1)
                          RETURNING 1)
           SELECT count(*) FROM gone""",
        keep_s,
    )
    attempts = await conn.fetchval(
        """WITH gone AS (DELETE FROM login_attempt WHERE at < clock_timestamp() - make_interval(secs => $1)
                          RETURNING 1)
           SELECT count(*) FROM gone""",
        keep_s,
    )
    # the longest limit window is far shorter than keep_s
    return int(sessions) + int(attempts) + await ratelimit.purge(conn, keep_s=keep_s)


# --- per-route rules --------------------------------------------------------------------------

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


@dataclass(frozen=True)
class Access:
    """Who may call a route. ``roles`` None means public (no sign-in)."""

    roles: frozenset[Role] | None
    csrf: bool = True

    @property
    def public(self) -> bool:
        return self.roles is None


@dataclass(frozen=True)
class ApiDoc:
    """What the OpenAPI document says about a route (models are pydantic classes).

    ``errors`` are the refusals the handler itself answers (status -> when), declared next to its
    code; the generator adds those of the middlewares (sign-in, role, CSRF, body size, control
    characters). ``ok`` are its success statuses. ``params`` gives a JSON schema per path or query
    parameter (default: a string); ``query`` describes the query parameters the handler reads."""

    summary: str
    request: type | None = None
    response: type | None = None
    query: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    errors: dict[int, str] = field(default_factory=dict)
    ok: dict[int, str] = field(default_factory=lambda: {200: "OK"})
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    request_type: str = "application/json"
    response_type: str = "application/json"
    # what a body that does not fit ``request`` gets (pydantic's 422; the app API answers 400)
    body_status: int = 422
    # the app API's routes authenticate with the phone's own install token, not a user session
    security: str | None = None


_ACCESS_ATTR = "__siaga_access__"
_DOC_ATTR = "__siaga_api__"


def allow(*roles: Role | str) -> Callable[[H], H]:
    """Only signed-in users with one of ``roles`` may call the route."""
    if not roles:
        raise ValueError("allow() needs at least one role; use public for open routes")
    rule = Access(frozenset(Role(r) for r in roles))

    def mark(handler: H) -> H:
        setattr(handler, _ACCESS_ATTR, rule)
        return handler

    return mark


def signed_in(handler: H) -> H:
    """Any signed-in user may call the route."""
    setattr(handler, _ACCESS_ATTR, Access(USER_ROLES))
    return handler


def public(handler: H) -> H:
    """Anyone may call the route, signed in or not."""
    setattr(handler, _ACCESS_ATTR, Access(None))
    return handler


def describe(
    summary: str,
    *,
    request: type | None = None,
    response: type | None = None,
    query: dict[str, str] | None = None,
    tags: Iterable[str] = (),
    errors: dict[int, str] | None = None,
    ok: dict[int, str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    request_type: str = "application/json",
    response_type: str = "application/json",
    body_status: int = 422,
    security: str | None = None,
) -> Callable[[H], H]:
    """Describe a route for the OpenAPI document (see :class:`ApiDoc`)."""
    doc = ApiDoc(
        summary,
        request,
        response,
        query or {},
        tuple(tags),
        errors or {},
        ok or {200: "OK"},
        params or {},
        request_type,
        response_type,
        body_status,
        security,
    )

    def mark(handler: H) -> H:
        setattr(handler, _DOC_ATTR, doc)
        return handler

    return mark


def access_of(handler: Any) -> Access | None:
    return getattr(handler, _ACCESS_ATTR, None)


def doc_of(handler: Any) -> ApiDoc | None:
    return getattr(handler, _DOC_ATTR, None)


def routes_without_rule(app: web.Application) -> list[str]:
    """'METHOD path' of every route that declares no access rule (the middleware refuses them)."""
    missing = []
    for route in app.router.routes():
        if access_of(route.handler) is None:
            info = route.resource.canonical if route.resource is not None else "?"
            missing.append(f"{route.method} {info}")
    return missing


# --- the middleware ---------------------------------------------------------------------------


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": code, "message": message, **extra}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def token_of(request: web.Request) -> tuple[str | None, bool]:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def client_ip(request: web.Request) -> str | None:
    return request.remote


async def csrf_ok(request: web.Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent, session.csrf_token)


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)
    rule = access_of(request.match_info.handler)
    if rule is None:
        log.error("route %s %s declares no access rule; refused", request.method, request.path)
        return json_error(403, "no_rule", "Alamat ini belum punya aturan akses.")

    token, via_cookie = token_of(request)
    session = None
    if rule.public and not via_cookie:
        # a bearer token on an open route may be someone else's (the citizen app's device token)
        token = None
    if token:
        async with request.app[appkeys.POOL].acquire() as conn:
            session = await authenticate(conn, request.app[appkeys.SETTINGS], token)
        if session is not None:
            session = Session(session.user, session.kind, session.csrf_token, session.expires_at, via_cookie)
            request[SESSION] = session
            request[USER] = session.user

    if rule.public:
        return await handler(request)
    if session is None:
        if request.method == "GET" and not _wants_json(request):
            raise web.HTTPSeeOther(location="/login")
        return json_error(401, "unauthenticated", "Silakan masuk terlebih dahulu.")
    if session.user.role not in (rule.roles or ()):
        return json_error(403, "forbidden", "Peran Anda tidak boleh melakukan ini.")
    if session.via_cookie and rule.csrf and request.method not in _SAFE_METHODS and not await csrf_ok(request, session):
        return json_error(403, "csrf", "Token CSRF tidak ada atau salah.")
    return await handler(request)


def current_user(request: web.Request) -> User:
    """The signed-in user of a route that is not public."""
    return request[USER]


def optional_user(request: web.Request) -> User | None:
    return request.get(USER)
