"""The dispatch API's web boundary for refusals: one table from a refusal's kind to its HTTP
status, and a decorator that answers a handler's refusals as JSON errors. The dispatch and the
roster API share both, so the same kind of "no" gets the same status in either."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from core.refusal import Kind

E = TypeVar("E", bound=Exception)
ApiHandler = Callable[[web.Request], Awaitable[web.Response]]

STATUS = {
    Kind.UNREADABLE: 400,
    Kind.INVALID: 422,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
}


def answering(error: type[E], answer: Callable[[E], web.Response]) -> Callable[[ApiHandler], ApiHandler]:
    """A decorator: the handler's ``error`` refusals are answered with ``answer(err)``."""

    def wrap(handler: ApiHandler) -> ApiHandler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except error as err:
                return answer(err)

        return wrapped

    return wrap
