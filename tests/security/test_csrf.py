"""CSRF on every state-changing route, enumerated from the router: a cookie session without the
session's token (none, a wrong one, another session's) is refused with 403 and changes nothing."""

from __future__ import annotations

import aiohttp
import pytest

from tests.security.conftest import Site
from tests.security.routes import app_routes, database_digest, refusal

PLAIN = {"Content-Type": "text/plain"}


async def test_every_unsafe_route_refuses_a_cookie_session_without_its_token(site: Site) -> None:
    routes = [r for r in app_routes(site.app) if r.unsafe and r.rule is not None and r.rule.roles is not None]
    assert len(routes) >= 10, [r.key for r in routes]
    clients: dict[str, tuple[aiohttp.ClientSession, str]] = {}
    try:
        for r in routes:
            assert r.rule is not None and r.rule.roles is not None
            role = sorted(r.rule.roles)[0]
            if role not in clients:
                clients[role] = await site.cookie_client(role)
        if len(clients) < 2:
            clients["leader"] = await site.cookie_client("leader")
        before = await database_digest(site.pool)
        wrong: list[str] = []
        for r in routes:
            assert r.rule is not None and r.rule.roles is not None
            role = sorted(r.rule.roles)[0]
            s, own = clients[role]
            someone_elses = next(csrf for other, (_, csrf) in clients.items() if other != role)
            attempts = [
                ("no token, a form", {"data": {"action": "dispose", "note": "x"}}),
                ("no token, JSON", {"json": {"to": "acknowledged", "body": "x"}}),
                ("no token, text/plain (a cross-site form can send it)", {"data": b"{}", "headers": PLAIN}),
                ("a wrong header", {"json": {}, "headers": {"X-CSRF-Token": own[:-2] + "xx"}}),
                ("a wrong form field", {"data": {"csrf_token": own[:-2] + "xx"}}),
                ("an empty header", {"json": {}, "headers": {"X-CSRF-Token": ""}}),
                ("another session's token", {"json": {}, "headers": {"X-CSRF-Token": someone_elses}}),
            ]
            for what, kw in attempts:
                async with s.request(r.request_method(), r.url(), allow_redirects=False, **kw) as resp:  # type: ignore[arg-type]
                    got = await refusal(resp)
                    if (resp.status, got) != (403, "csrf"):
                        wrong.append(f"{r.method} {r.path} with {what}: {resp.status} {got}")
        assert not wrong, "\n".join(wrong)
        assert await database_digest(site.pool) == before

        # and the same session with its token is let through (the token, not something else, decided)
        for r in sorted(routes, key=lambda r: r.rule is not None and r.rule.ends_session):
            assert r.rule is not None and r.rule.roles is not None
            if r.rule.ends_session:  # a session of its own, so the other sign-out still has one
                s, own = await site.cookie_client(sorted(r.rule.roles)[0])
                clients[f"{r.key}"] = (s, own)
            else:
                s, own = clients[sorted(r.rule.roles)[0]]
            async with s.request(
                r.request_method(), r.url(), json={}, headers={"X-CSRF-Token": own}, allow_redirects=False
            ) as resp:
                assert await refusal(resp) is None, (r.key, resp.status)
    finally:
        for s, _ in clients.values():
            await s.close()


async def test_the_event_websocket_refuses_another_origin(site: Site) -> None:
    """Cross-site WebSocket hijacking: a page elsewhere opening the stream with the operator's cookie."""
    s, _ = await site.cookie_client("operator")
    async with s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect("/api/v1/stream", headers={"Origin": "http://jahat.example"})
        assert refused.value.status == 403
        async with s.ws_connect("/api/v1/stream", headers={"Origin": site.url}) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
