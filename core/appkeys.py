"""Every typed key of the aiohttp application state, in one place (STYLE.md 4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import asyncpg
from aiohttp import web

from core.sender import PhoneSender
from core.settings import Settings

if TYPE_CHECKING:
    # the values of these keys are built by the floors above core; core names them for the type
    # checker only, so it still imports none of those packages at runtime
    from complaints.open311_web import AreaLookup
    from gateway.app_api import AppApiState
    from gateway.mqtt_gateway import MqttGateway
    from gateway.store import AlertPipeline


class EventFanout(Protocol):
    """The web role's single event reader that every open WebSocket listens to."""

    def subscribe(self) -> Any: ...

    def unsubscribe(self, subscription: Any) -> None: ...


class HandoverHook(Protocol):
    """Called inside the handover transaction (the complaint pipeline's entry point, wired by
    siaga): the category and description are the ones the operator chose in the console."""

    def __call__(
        self,
        conn: asyncpg.Connection,
        incident_id: UUID,
        /,
        *,
        category_id: int | None = ...,
        description: str | None = ...,
    ) -> Awaitable[Any]: ...


SETTINGS = web.AppKey("siaga_settings", Settings)
POOL = web.AppKey("siaga_pool", asyncpg.Pool)
EVENT_FANOUT = web.AppKey("siaga_event_fanout", EventFanout)
WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("siaga_websockets")
HANDOVER_HOOK: web.AppKey[HandoverHook] = web.AppKey("siaga_handover_hook")
# SMS/WhatsApp to a phone: the app API's verification codes, the reporter's status link.
PHONE_SENDER = web.AppKey("siaga_code_sender", PhoneSender)
# path prefix -> the page that answers a refused parameter there (core.params.register_error_page)
ERROR_PAGES: web.AppKey[dict[str, Callable[..., Any]]] = web.AppKey("siaga_error_pages")
# the app API's alert pipeline (the same one the MQTT gateway stores through)
ALERT_PIPELINE: web.AppKey[AlertPipeline] = web.AppKey("siaga_alert_pipeline")
# the app API's rate limits, built on first use from the pipeline's settings
APP_API_STATE: web.AppKey[AppApiState] = web.AppKey("siaga_app_api_state")
# what /metrics reports on, when the pipeline and the gateway share the web role's process
PIPELINE_STATS: web.AppKey[AlertPipeline] = web.AppKey("siaga_metrics_pipeline")
GATEWAY_STATS: web.AppKey[MqttGateway] = web.AppKey("siaga_metrics_gateway")
# point -> desa/kecamatan for Open311 requests
AREAS: web.AppKey[AreaLookup] = web.AppKey("complaints_area_lookup")
