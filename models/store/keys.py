"""API keys: scoped, named, optionally expiring, stored only as salted hashes.

A key reads ``ork_<key id>.<secret>``. The key id is public (it names the key in lists and logs);
the secret is 32 random bytes that never reach the store: only ``sha256(salt || secret)`` with a
per-key random salt does, and a presented key is checked with a constant-time comparison. Every
change bumps ``keys_version`` in ``live_meta``, so each worker re-reads the keys only after one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from models.errors import OmnirankError

SCOPES = ("search", "personalize", "associate", "admin")
"""search: the public storefront key (search, suggest, item recommendations, availability);
personalize: customer and cart recommendations, events (server to server);
associate: customer profiles (PII), optionally limited to stores; admin: everything."""

KEYS_SCHEMA = """
INSERT INTO live_meta (key, value) VALUES ('keys_version', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    stores     TEXT NOT NULL DEFAULT '',
    salt       BLOB NOT NULL,
    digest     BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
"""
PREFIX = "ork_"


class KeyRequestError(OmnirankError, ValueError):
    """A key request that cannot be honoured (unknown scope, unknown key id)."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    scope: str
    stores: tuple[str, ...]  # empty: every store
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    salt: bytes
    digest: bytes

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(digest(self.salt, secret), self.digest)


def digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if not presented.startswith(PREFIX) or "." not in presented:
        return None
    key_id, _, secret = presented[len(PREFIX) :].partition(".")
    return (key_id, secret) if key_id and secret else None


class KeyTable:
    """Mixin of :class:`models.store.LiveStore`: create, list, revoke and read API keys."""

    _conn: Any
    _write: Any

    def keys_version(self) -> int:
        return int(
            self._conn().execute("SELECT value FROM live_meta WHERE key = 'keys_version'").fetchone()[0]
        )

    @staticmethod
    def _bump_keys(conn: Any) -> None:
        version = conn.execute(
            "UPDATE live_meta SET value = value + 1 WHERE key = 'keys_version' RETURNING value"
        ).fetchone()[0]
        conn.dialect.announce(conn, "keys", int(version))

    def create_key(
        self, name: str, scope: str, now: float, stores: tuple[str, ...] = (), expires_at: float | None = None
    ) -> str:
        """Store a new key and return it whole: the only time its secret exists outside the caller."""
        if scope not in SCOPES:
            raise KeyRequestError(f"unknown scope {scope!r}; one of {SCOPES}")
        if stores and scope != "associate":
            raise KeyRequestError("only associate keys are limited to stores")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, name, scope, stores, salt, digest, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?)",
                (key_id, name, scope, ",".join(stores), salt, digest(salt, secret), now, expires_at),
            )
            self._bump_keys(conn)
        return f"{PREFIX}{key_id}.{secret}"

    def revoke_key(self, key_id: str, now: float) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (now, key_id)
            )
            if not cur.rowcount:
                raise KeyRequestError(f"no active key {key_id!r}")
            self._bump_keys(conn)

    def api_keys(self) -> list[ApiKey]:
        rows = self._conn().execute(
            "SELECT key_id, name, scope, stores, created_at, expires_at, revoked_at, salt, digest FROM api_keys ORDER BY created_at, key_id"
        )
        return [
            ApiKey(
                key_id,
                name,
                scope,
                tuple(s for s in stores.split(",") if s),
                created,
                expires,
                revoked,
                bytes(salt),
                bytes(dig),
            )
            for key_id, name, scope, stores, created, expires, revoked, salt, dig in rows
        ]
