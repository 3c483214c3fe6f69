"""Who may call what: scoped API keys, checked by one dependency declared on every route.

Scopes (``models.store.keys.SCOPES``), each a superset of ``search``:

* ``search`` — the public storefront key, safe to ship in a web page: search, suggest, item
  recommendations (similar, bought-together, trending), availability.
* ``personalize`` — server to server: customer and cart recommendations, events, search
  personalised by ``customer_id``.
* ``associate`` — the customer profile (PII, history), optionally limited to some stores.
* ``admin`` — everything: rules, reload, live catalog updates, health details, metrics.

A key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Missing or wrong: 401;
valid but out of scope: 403, decided before anything is looked up, so a caller without the
associate scope cannot learn whether an email is a customer. The first admin key is
``OMNIRANK_ADMIN_KEY`` (compared in constant time); more keys live in the store, as salted hashes
(``omnirank keys create``). Without any admin key the service refuses to start unless
``OMNIRANK_DEV_MODE=1`` says it is a developer's machine: then an unauthenticated caller is admin.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from models.errors import OmnirankError
from models.store import ApiKey
from models.store.keys import split_key

IMPLIED = {
    "search": {"search"},
    "personalize": {"search", "personalize"},
    "associate": {"search", "associate"},
    "admin": {"search", "personalize", "associate", "admin"},
}

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An omnirank API key.")
bearer = HTTPBearer(auto_error=False, description="An omnirank API key as a bearer token.")


class InsecureStart(OmnirankError, RuntimeError):
    """The service would start open to anyone: no admin key and no explicit development mode."""


@dataclass(frozen=True)
class Principal:
    """The caller, as its key says."""

    name: str
    scope: str
    stores: tuple[str, ...] = ()  # associate keys limited to these stores; empty: every store
    key_id: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in IMPLIED[self.scope]

    def store_for(self, store_id: str | None) -> str | None:
        """The store an associate key may look at: the one asked if allowed, its only store if none
        was asked; 403 otherwise."""
        if not self.stores:
            return store_id
        if store_id is None and len(self.stores) == 1:
            return self.stores[0]
        if store_id not in self.stores:
            raise HTTPException(
                403, f"this key is limited to stores {list(self.stores)}; pass one of them as store_id"
            )
        return store_id


DEV = Principal("development mode", "admin")


class KeyRing:
    """The keys a worker accepts: the settings' admin key and the store's keys (immutable; a new
    ring is built when the store's keys version moves)."""

    def __init__(self, keys: list[ApiKey], admin_key: str | None, dev_mode: bool, version: int = 0) -> None:
        self.version = version
        self.dev_mode = dev_mode
        self._admin_digest = hashlib.sha256(admin_key.encode()).digest() if admin_key else None
        self._keys = {k.key_id: k for k in keys}

    @property
    def has_admin(self) -> bool:
        return self._admin_digest is not None or any(
            k.scope == "admin" and k.revoked_at is None for k in self._keys.values()
        )

    def authenticate(self, presented: str | None, now: float) -> Principal | None:
        if not presented:
            return DEV if self.dev_mode else None
        if self._admin_digest is not None and hmac.compare_digest(
            hashlib.sha256(presented.encode()).digest(), self._admin_digest
        ):
            return Principal("OMNIRANK_ADMIN_KEY", "admin")
        parts = split_key(presented)
        key = self._keys.get(parts[0]) if parts else None
        if key is None or not key.matches(parts[1]) or not key.active(now):
            return None
        return Principal(key.name, key.scope, key.stores, key.key_id)


def requires(scope: str):
    """The dependency that admits callers whose key allows ``scope`` (declare it on every route)."""

    async def principal(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_header)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        serving = request.app.state.serving
        presented = api_key or (credentials.credentials if credentials else None)
        found = serving.keyring().authenticate(presented, serving.clock().timestamp())
        if found is None:
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
        if not found.allows(scope):
            raise HTTPException(403, f"a {found.scope} key may not call this route (it needs {scope})")
        request.state.principal = found
        return found

    principal.omnirank_scope = scope  # type: ignore[attr-defined]
    principal.__name__ = f"requires_{scope}"
    return principal


async def public() -> None:
    """Marks a route that needs no key (liveness and readiness probes)."""


public.omnirank_scope = "public"  # type: ignore[attr-defined]

search_scope, personalize_scope, associate_scope, admin_scope = (
    requires(s) for s in ("search", "personalize", "associate", "admin")
)
SearchKey = Annotated[Principal, Security(search_scope)]
PersonalizeKey = Annotated[Principal, Security(personalize_scope)]
AssociateKey = Annotated[Principal, Security(associate_scope)]
AdminKey = Annotated[Principal, Security(admin_scope)]


def route_scopes(app) -> dict[tuple[str, str], str | None]:
    """(method, path) -> the scope each route declares (``public`` for probes, None when it declares
    none): what the route x key test walks, so a new route without a scope fails it."""
    from fastapi.routing import APIRoute

    def scope_of(dependant) -> str | None:
        for dep in dependant.dependencies:
            found = getattr(dep.call, "omnirank_scope", None) or scope_of(dep)
            if found:
                return found
        return None

    def walk(routes):
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from walk(inner.routes)
            elif isinstance(route, APIRoute):
                yield route

    return {
        (method, route.path): scope_of(route.dependant)
        for route in walk(app.router.routes)
        for method in sorted(route.methods)
    }
