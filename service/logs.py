"""JSON logs with request ids, and never a customer's identifier in them.

Why our own access log instead of uvicorn's: uvicorn logs the raw path and query, which carry
whatever a caller put there (an email in a profile URL, a phone in a customer id). Each request is
logged once here with its *route template* (``/v1/customers/{identifier}/profile``), status,
duration, worker and request id; ``omnirank serve`` turns uvicorn's access log off. As a second
line of defence every log line passes through :func:`redact`, which masks anything shaped like an
email address, a phone number or a loyalty id, wherever it appears (an exception message, say).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(\.[\w-]+)*", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d ().-]{6,}\d(?!\w)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NOT_REDACTED = frozenset({"timestamp", "level", "logger", "method", "route", "request_id"})
_LOYALTY = re.compile(r"\bLY[A-Z0-9]{5,}\b", re.IGNORECASE)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_configured = False


def redact(text: str) -> str:
    """``text`` with emails, phone numbers and loyalty ids replaced by a marker."""
    text = _EMAIL.sub("[email]", text)
    text = _LOYALTY.sub("[loyalty-id]", text)
    return _PHONE.sub(_phone, text)


def _phone(match: re.Match) -> str:
    """A run of 8+ digits (with the separators phone numbers are written with) that is not a date."""
    found = match.group(0)
    if sum(ch.isdigit() for ch in found) < 8 or _ISO_DATE.match(found):
        return found
    return "[phone]"


def _redact_event(_: object, __: str, event: dict) -> dict:
    for key, value in list(event.items()):
        if isinstance(value, str) and key not in _NOT_REDACTED:
            event[key] = redact(value)
    return event


def configure_logging(level: str = "INFO") -> None:
    """Every log line of the process (ours, uvicorn's, libraries') as one redacted JSON object."""
    global _configured
    if _configured:
        return
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # structlog's own lines go through the standard library too, so one handler renders every line
    # and any standard tool (pytest's caplog, a log shipper's handler) sees them.
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact_event,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # uvicorn's access log carries the raw path and query: never written (RequestLog logs each request)
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True
    _configured = True


access_log = structlog.get_logger("omnirank.access")


class RequestLog:
    """Gives each request an id (the caller's ``X-Request-ID`` when it is a plain token), returns
    it as a header, binds it to every log line of the request, and logs the request once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        # a caller's id is kept only when it is a plain token that carries no identifier
        request_id = given if _SAFE_REQUEST_ID.match(given) and redact(given) == given else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            access_log.info(
                "request",
                method=scope.get("method"),
                route=getattr(route, "path", "unmatched"),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                worker=os.getpid(),  # per request: a pre-fork master builds this middleware for all workers
            )
            structlog.contextvars.unbind_contextvars("request_id")
