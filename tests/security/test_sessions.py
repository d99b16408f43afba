"""Sessions and passwords: no fixation, a cookie that scripts and other sites cannot use, logout
revokes, idle and absolute expiry, argon2id at or above OWASP's parameters (old hashes upgraded at
sign-in), sign-in limits per user and per address."""

from __future__ import annotations

import hashlib
import re
import secrets

import aiohttp
import argon2
import asyncpg
import pytest
from yarl import URL

from core import auth
from core.settings import Settings
from tests.dispatch import factory
from tests.security.conftest import Site, bearer, sign_in_form


def _cookie(s: aiohttp.ClientSession) -> str | None:
    found = [c.value for c in s.cookie_jar if c.key == auth.SESSION_COOKIE]
    return found[0] if found else None


async def _me(site: Site, token: str, *, cookie: bool) -> int:
    if cookie:
        async with aiohttp.ClientSession(base_url=site.url, cookies={auth.SESSION_COOKIE: token}) as s:
            return (await s.get("/api/v1/me")).status
    async with aiohttp.ClientSession(base_url=site.url, headers=bearer(token)) as s:
        return (await s.get("/api/v1/me")).status


async def test_sign_in_issues_a_fresh_session_id_and_logout_revokes_it(site: Site) -> None:
    planted = secrets.token_urlsafe(32)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=jar) as victim:
        # an attacker who could set a cookie on the victim's browser (another subdomain, an earlier visit)
        victim.cookie_jar.update_cookies({auth.SESSION_COOKIE: planted}, response_url=URL(site.url))
        r = await sign_in_form(victim, "admin")
        assert r.status == 303 and r.headers["Location"] == "/admin"
        issued = r.cookies[auth.SESSION_COOKIE].value
        assert issued != planted and _cookie(victim) == issued
        # HttpOnly (no script reads it), SameSite=Strict (no cross-site request carries it), 256 random bits
        cookie = r.cookies[auth.SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        assert len(issued) >= 43
        assert (await victim.get("/api/v1/me")).status == 200
        # signing in again (an old session still in the jar) gives yet another id
        await victim.post("/logout", data={"csrf_token": (await (await victim.get("/api/v1/me")).json())["csrf_token"]})
        await sign_in_form(victim, "admin")
        assert _cookie(victim) not in (issued, planted)
    # the planted value never became a session, as cookie or as bearer
    assert await _me(site, planted, cookie=True) == 401
    assert await _me(site, planted, cookie=False) == 401
    assert (
        await site.pool.fetchval(
            "SELECT count(*) FROM user_session WHERE token_hash = $1", hashlib.sha256(planted.encode()).digest()
        )
        == 0
    )
    await _logout_revokes_the_cookie_session_everywhere(site)


async def _logout_revokes_the_cookie_session_everywhere(site: Site) -> None:
    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await sign_in_form(s, "supervisor")
        token = _cookie(s)
        assert token is not None
        csrf = (await (await s.get("/api/v1/me")).json())["csrf_token"]
        r = await s.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert r.status == 303
    # a copy of the cookie kept by an attacker (or a second tab) is dead too
    assert await _me(site, token, cookie=True) == 401
    assert await _me(site, token, cookie=False) == 401
    user_id = site.world.users["supervisor"].id
    assert (
        await site.pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'logout' AND user_id = $1", user_id)
        == 1
    )


async def _pass_time(pool: asyncpg.Pool, token: str, seconds: float) -> None:
    """As if ``seconds`` went by without a request on this session."""
    await pool.execute(
        """UPDATE user_session
              SET created_at = created_at - make_interval(secs => $2),
                  last_seen_at = last_seen_at - make_interval(secs => $2),
                  expires_at = expires_at - make_interval(secs => $2)
            WHERE token_hash = $1""",
        hashlib.sha256(token.encode()).digest(),
        float(seconds),
    )


async def test_idle_and_absolute_expiry(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    short = settings.model_copy(update={"session_idle_s": 300, "session_max_s": 400})
    async with pool.acquire() as conn:
        # idle: a session used within the idle limit slides on; one left alone past it is gone
        token, _ = await auth.login(conn, short, "admin", factory.PASSWORD)
        await _pass_time(pool, token, 100)
        alive = await auth.authenticate(conn, short, token)
        assert alive is not None
        left = await conn.fetchval("SELECT $1::timestamptz - clock_timestamp()", alive.expires_at)
        assert left.total_seconds() > 290  # slid to a full idle period again
        await _pass_time(pool, token, 301)
        assert await auth.authenticate(conn, short, token) is None

        # absolute: used every 100-250 s (never idle), it still ends 400 s after sign-in
        token, _ = await auth.login(conn, short, "admin", factory.PASSWORD)
        await _pass_time(pool, token, 250)
        assert await auth.authenticate(conn, short, token) is not None
        await _pass_time(pool, token, 100)
        assert await auth.authenticate(conn, short, token) is not None
        await _pass_time(pool, token, 60)  # 410 s after sign-in, 60 s after the last request
        assert await auth.authenticate(conn, short, token) is None


def _params(encoded: str) -> tuple[str, dict[str, int]]:
    m = re.fullmatch(r"\$(argon2\w+)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", encoded)
    assert m is not None, encoded
    return m.group(1), {"m": int(m.group(2)), "t": int(m.group(3)), "p": int(m.group(4))}


async def test_passwords_are_argon2id_at_least_owasp_and_old_hashes_are_upgraded(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    kind, p = _params(await auth.hash_password("kata-sandi-panjang"))
    # OWASP Password Storage Cheat Sheet: argon2id, at least 19 MiB, 2 iterations, 1 degree of parallelism
    assert kind == "argon2id" and p["m"] >= 19 * 1024 and p["t"] >= 2 and p["p"] >= 1
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=argon2.Type.I)
    await pool.execute("UPDATE app_user SET password_hash = $1 WHERE username = 'leader'", weak.hash(factory.PASSWORD))
    async with pool.acquire() as conn:
        await auth.login(conn, settings, "leader", factory.PASSWORD)
        upgraded = await conn.fetchval("SELECT password_hash FROM app_user WHERE username = 'leader'")
        assert _params(upgraded) == (kind, p)
        assert not auth.password_needs_rehash(upgraded)
        # the new hash works, and is not replaced again
        await auth.login(conn, settings, "leader", factory.PASSWORD)
        assert await conn.fetchval("SELECT password_hash FROM app_user WHERE username = 'leader'") == upgraded
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user.password_rehash'") == 1
        # a wrong password never rewrites anything
        await pool.execute("UPDATE app_user SET password_hash = $1 WHERE username = 'cc'", weak.hash("lain-lagi-1"))
        with pytest.raises(auth.AuthError):
            await auth.login(conn, settings, "cc", factory.PASSWORD)
        assert _params(await conn.fetchval("SELECT password_hash FROM app_user WHERE username = 'cc'"))[0] == "argon2i"


async def test_sign_in_limits_per_user_and_per_address(site: Site) -> None:
    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        # the same account under other spellings is the same account
        for name in ("leader", "LEADER", " Leader "):  # the suite's limit is 3 (settings fixture)
            r = await sign_in_form(s, name, "salah-sekali")
            assert "Nama pengguna atau kata sandi salah." in await r.text()
        r = await sign_in_form(s, "leader")  # the right password, too late
        assert "Terlalu banyak percobaan gagal" in await r.text() and _cookie(s) is None
        assert (await sign_in_form(s, "cc")).status == 303  # other accounts are not locked by it
    await _sign_in_limit_per_address(site.pool, site.settings)


async def _sign_in_limit_per_address(pool: asyncpg.Pool, settings: Settings) -> None:
    limited = settings.model_copy(update={"login_ip_max_failures": 3, "login_max_failures": 100})
    async with pool.acquire() as conn:
        # one address trying many accounts (password spraying)
        for name in ("admin", "cc", "tidak-ada"):
            with pytest.raises(auth.AuthError) as e:
                await auth.login(conn, limited, name, "tebakan-umum", client_ip="203.0.113.9")
            assert e.value.code == "bad_credentials"
        with pytest.raises(auth.AuthError) as e:
            await auth.login(conn, limited, "supervisor", factory.PASSWORD, client_ip="203.0.113.9")
        assert e.value.code == "rate_limited"
        # the same account from another address is fine
        await auth.login(conn, limited, "supervisor", factory.PASSWORD, client_ip="198.51.100.7")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'login.rate_limited' AND client_ip = '203.0.113.9'"
            )
            == 1
        )
