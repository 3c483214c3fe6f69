"""Normalising, hashing and masking of personal identifiers.

Training hashes identifiers before they reach the bundle, and the service hashes what a caller
sends with the same function, so the two always meet on the same key and no raw email or phone is
ever stored in a bundle or written to a log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

IDENTIFIER_TYPES = ("loyalty_id", "email", "phone")

_NON_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")


def normalize_email(value: str | None) -> str | None:
    """Lower-cased, trimmed address; ``None`` for anything that is not an address."""
    if value is None:
        return None
    email = _SPACES.sub("", unicodedata.normalize("NFKC", str(value))).lower()
    if email.count("@") != 1:
        return None
    local, domain = email.split("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return None
    return email


def normalize_phone(value: str | None, min_digits: int = 8) -> str | None:
    """Digits only, without a leading trunk zero; the last 10 digits identify the line.

    Keeping the national significant number lets '+55 11 91234-5678' and '(11) 91234-5678' meet,
    which is what stores see when one customer types the country code and another does not.
    """
    if value is None:
        return None
    digits = _NON_DIGITS.sub("", str(value)).lstrip("0")
    if len(digits) < min_digits:
        return None
    return digits[-10:]


def normalize_loyalty_id(value: str | None) -> str | None:
    if value is None:
        return None
    loyalty = _SPACES.sub("", str(value)).upper()
    return loyalty or None


NORMALIZERS = {"loyalty_id": normalize_loyalty_id, "email": normalize_email, "phone": normalize_phone}


def normalize_identifier(kind: str, value: str | None) -> str | None:
    if kind not in NORMALIZERS:
        raise ValueError(f"unknown identifier type {kind!r}; expected one of {IDENTIFIER_TYPES}")
    return NORMALIZERS[kind](value)


def hash_identifier(kind: str, normalized_value: str, salt: str) -> str:
    """Keyed hash (HMAC-SHA256, truncated) of an already normalised identifier."""
    digest = _keyed(salt).copy()  # the salt's key schedule once, not per value (millions in training)
    digest.update(f"{kind}:{normalized_value}".encode())
    return digest.hexdigest()[:32]


@lru_cache(maxsize=8)
def _keyed(salt: str) -> hmac.HMAC:
    return hmac.new(salt.encode(), digestmod=hashlib.sha256)


def identifier_key(kind: str, raw_value: str | None, salt: str) -> str | None:
    """Normalise then hash: the one way any identifier becomes a lookup key."""
    normalized = normalize_identifier(kind, raw_value)
    return None if normalized is None else hash_identifier(kind, normalized, salt)


def mask(kind: str, raw_value: str | None) -> str | None:
    """What an associate may see: enough to confirm with the customer, not enough to copy."""
    normalized = normalize_identifier(kind, raw_value)
    if normalized is None:
        return None
    if kind == "email":
        local, domain = normalized.split("@")
        return f"{local[:1]}***@{domain}"
    return "*" * max(0, len(normalized) - 4) + normalized[-4:]
