"""Every typed key of the aiohttp application state, in one place (STYLE.md 4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from aiohttp import web

from core.sender import PhoneSender
from core.settings import Settings


class EventFanout(Protocol):
    """The web role's single event reader that every open WebSocket listens to."""

    def subscribe(self) -> Any: ...

    def unsubscribe(self, subscription: Any) -> None: ...


# Called inside the handover transaction (the complaint pipeline's entry point, wired by siaga).
HandoverHook = Callable[[asyncpg.Connection, UUID], Awaitable[Any]]

SETTINGS = web.AppKey("siaga_settings", Settings)
POOL = web.AppKey("siaga_pool", asyncpg.Pool)
EVENT_FANOUT = web.AppKey("siaga_event_fanout", EventFanout)
WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("siaga_websockets")
HANDOVER_HOOK: web.AppKey[HandoverHook] = web.AppKey("siaga_handover_hook")
# SMS/WhatsApp to a phone: the app API's verification codes, the reporter's status link.
PHONE_SENDER = web.AppKey("siaga_code_sender", PhoneSender)
# path prefix -> the page that answers a refused parameter there (core.params.register_error_page)
ERROR_PAGES: web.AppKey[dict[str, Callable[..., Any]]] = web.AppKey("siaga_error_pages")
