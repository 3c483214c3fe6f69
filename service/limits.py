"""Hostile input stops at the door: request limits, and the error answers the OpenAPI schema describes.

:class:`RequestLimits` is a pure ASGI middleware (no task per request), checked before routing,
authentication or parsing:

* headers over ``MAX_HEADER_BYTES`` (16 KiB, names and values together): **431** at once;
* more than ``Settings.max_in_flight`` requests already in this worker: **503** with
  ``Retry-After: 1`` at once, instead of queueing without bound in front of the thread pool (the
  liveness and readiness probes are exempt: a busy worker is alive and ready);
* a ``Content-Length`` above the route's body limit: **413** at once, before a byte is read; a
  body without one (chunked) is counted as it streams and cut with a 413 where it passes the limit.
  The limit is ``Settings.max_body_bytes``, and ``Settings.max_rules_bytes`` for the rules PUT.

It also sets the merchandising-rule limits of the deployment (``max_rules``, ``redirect_hosts``) for
the request, so a rules PUT is validated against them (``models.rules.rule_limits``).

:func:`document_errors` completes the OpenAPI schema with the errors every operation can answer:
the limits above, a missing or out-of-scope key (401, 403), validation (422, whose body is
``{"detail": str, "errors": [...]}`` as ``service.app`` renders it) and the route-specific ones in
``ROUTE_ERRORS``, so a client (or schemathesis) can rely on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.config import Settings
from models.rules import RuleLimits, rule_limits

MAX_HEADER_BYTES = 16 * 1024
EXEMPT_FROM_IN_FLIGHT = frozenset({"/health/live", "/health/ready"})
RULES_PATH = "/v1/admin/rules"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (FastAPI re-raises HTTP
    exceptions met while reading a body, so the app answers it as a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")


async def _answer(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Header, body and concurrency limits of one worker (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_in_flight: int,
        body_limits: dict[str, int] | None = None,
        rules: RuleLimits | None = None,
        max_header_bytes: int = MAX_HEADER_BYTES,
        exempt: frozenset[str] = EXEMPT_FROM_IN_FLIGHT,
    ) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.max_in_flight = int(max_in_flight)
        self.body_limits = dict(body_limits or {})
        self.rules = rules
        self.max_header_bytes = int(max_header_bytes)
        self.exempt = exempt
        self.in_flight = 0

    @classmethod
    def options(cls, settings: Settings) -> dict[str, Any]:
        """The keyword arguments for ``app.add_middleware(RequestLimits, **RequestLimits.options(settings))``."""
        return {
            "max_body_bytes": settings.max_body_bytes,
            "max_in_flight": settings.max_in_flight,
            "body_limits": {RULES_PATH: settings.max_rules_bytes},
            "rules": RuleLimits.of(settings.max_rules, settings.redirect_hosts),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        size = sum(len(name) + len(value) for name, value in headers)
        if size > self.max_header_bytes:
            await _answer(
                send, 431, f"request headers total {size} bytes; the limit is {self.max_header_bytes}"
            )
            return
        path = scope.get("path", "")
        counted = path not in self.exempt
        if counted and self.in_flight >= self.max_in_flight:
            await _answer(
                send,
                503,
                f"this worker is at its limit of {self.max_in_flight} requests in flight; retry in a second",
                [(b"retry-after", b"1")],
            )
            return
        limit = self.body_limits.get(path, self.max_body_bytes)
        lengths = [value for name, value in headers if name.lower() == b"content-length"]
        if lengths:
            try:
                declared = {int(v) for v in lengths}
            except ValueError:
                declared = {-1}
            if len(declared) != 1 or min(declared) < 0:
                await _answer(send, 400, "invalid Content-Length header")
                return
            if declared.pop() > limit:
                await _answer(send, 413, f"request body is larger than the limit of {limit} bytes")
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        if counted:
            self.in_flight += 1
        try:
            with rule_limits(self.rules):
                await self.app(scope, limited, tracked)
        except BodyTooLarge as exc:  # read outside FastAPI's body handling, and not answered
            if started:
                raise
            await _answer(send, 413, str(exc.detail))
        finally:
            if counted:
                self.in_flight -= 1


# --- the errors in the OpenAPI schema ---------------------------------------------------------------


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer: what is wrong, in words (plus the fields, for a request that does not validate)."""

    detail: str = Field(description="What went wrong, for a person to read.")
    errors: list[FieldError] | None = Field(None, description="Each invalid field (request validation only).")
    request_id: str | None = Field(None, description="Quote it to the operator (unexpected errors only).")


_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_GENERIC = {
    400: "The body is not JSON (not UTF-8, or cut short).",
    401: "Missing or invalid API key.",
    403: "The key's scope does not allow this call.",
    413: "The body is larger than the service accepts (or has too many rows).",
    422: "The request does not validate; the detail says where.",
    431: "The request headers are too large.",
    503: "Busy (Retry-After says when to retry), or the served bundle cannot answer this.",
}
_NOT_FOUND = "An unknown store_id, sku or customer."
ROUTE_ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("get", "/v1/search"): {404: "Unknown store_id."},
    ("get", "/v1/recommendations/trending"): {404: _NOT_FOUND},
    ("post", "/v1/recommendations/cart"): {404: _NOT_FOUND},
    ("post", "/v1/customers/lookup"): {404: _NOT_FOUND},
}
"""Errors particular to a route (the generic ones are added to every operation they apply to; an
operation with a path parameter can also answer 404: what it names may not exist)."""


def _has_input(operation: dict) -> bool:
    return bool(operation.get("parameters") or operation.get("requestBody"))


def _secured(operation: dict) -> bool:
    return bool(operation.get("security"))


def _merge(responses: dict, status: int, description: str) -> None:
    """Declare ``status`` with the error body; an answer already declared there may be either."""
    key = str(status)
    content = {"application/json": {"schema": _ERROR_REF}}
    if key not in responses:
        responses[key] = {"description": description, "content": content}
        return
    declared = responses[key].setdefault("content", {}).setdefault("application/json", {})
    schema = declared.get("schema")
    if not schema or schema == _ERROR_REF:
        declared["schema"] = _ERROR_REF
    elif schema.get("$ref") == "#/components/schemas/HTTPValidationError":
        declared["schema"] = _ERROR_REF
    elif _ERROR_REF not in schema.get("anyOf", []):
        declared["schema"] = {"anyOf": [schema, _ERROR_REF]}


def complete_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI document of this app) with every error answer declared."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    defs = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(defs.pop("$defs", {}))
    components["ErrorOut"] = defs
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            statuses = {431: _GENERIC[431]}
            if path not in EXEMPT_FROM_IN_FLIGHT:
                statuses[503] = _GENERIC[503]
            if _secured(operation):
                statuses |= {401: _GENERIC[401], 403: _GENERIC[403]}
            if _has_input(operation):
                statuses[422] = _GENERIC[422]
            if operation.get("requestBody"):
                statuses |= {400: _GENERIC[400], 413: _GENERIC[413]}
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                statuses[404] = _NOT_FOUND
            statuses |= ROUTE_ERRORS.get((method, path), {})
            for status, description in sorted(statuses.items()):
                _merge(responses, status, description)
            if "503" in responses:
                responses["503"].setdefault("headers", {})["Retry-After"] = {
                    "description": "Seconds to wait when the worker was busy.",
                    "schema": {"type": "string"},
                }
            if "401" in responses:
                responses["401"].setdefault("headers", {})["WWW-Authenticate"] = {
                    "schema": {"type": "string"}
                }
    metrics = schema.get("paths", {}).get("/metrics", {}).get("get")
    if metrics is not None:  # Prometheus' text format, not JSON
        metrics["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    return schema


def document_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Make ``app.openapi`` answer FastAPI's schema completed by :func:`complete_errors` (built once
    and cached, like FastAPI's own)."""
    generate = app.openapi
    completed: list[int] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached in app.openapi_schema
        if id(schema) not in completed:
            complete_errors(schema)
            completed[:] = [id(schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return openapi
