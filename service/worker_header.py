"""``X-Omnirank-Worker: <pid>`` on every response: which worker process answered.

Why: with ``omnirank serve --workers N`` each process holds its own view of the live state and the
rules (and, after an admin reload, of the bundle), so when two answers differ the first question is
whether two processes gave them. The
end-to-end tests and the benchmark also use it to know that every worker was reached. A pure ASGI
middleware (not ``BaseHTTPMiddleware``) so it costs one header append, not a task per request.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-omnirank-worker"


class WorkerHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def _header() -> tuple[bytes, bytes]:
        """Asked per response, not kept: a pre-fork master builds this middleware before forking the
        workers (service/prefork.py), so the pid at construction would be the master's."""
        return HEADER.encode("latin-1"), str(os.getpid()).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self._header()]
            await send(message)

        await self.app(scope, receive, send_with_pid)
