"""Who a caller means: identifiers resolved to one customer, with links made live at the till.

Training resolves people across channels (union-find over every identifier seen together). Between
trainings, an event or a profile lookup that carries two identifiers (a loyalty card and the email
the customer just gave) links them at once in the store, so the associate sees the card holder's web
history without waiting for the next training. Links are made only towards a known customer or the
first identifier given, never between two different trained customers (merging people is training's
decision, with all the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.pii import identifier_key
from service.state import ServingView

KINDS = ("customer_id", "loyalty_id", "email", "phone")


@dataclass(frozen=True)
class Resolved:
    key: str  # the customer id, or the hash of an identifier no training has seen yet
    known: bool  # a trained customer, or linked live to one
    linked: tuple[str, ...] = ()  # identifier hashes linked by this call


def identifier_hashes(identifiers: dict[str, str | None], salt: str) -> dict[str, str]:
    """kind -> key for each valid identifier given (customer ids are opaque, not hashed)."""
    out = {}
    for kind in KINDS:
        value = identifiers.get(kind)
        if not value:
            continue
        key = value if kind == "customer_id" else identifier_key(kind, value, salt)
        if key is not None:
            out[kind] = key
    return out


def _trained(view: ServingView, keys: list[str]) -> dict[str, str]:
    """key -> customer for keys that name a trained customer or a trained identifier."""
    out = {k: k for k in keys if k in view.customers.index}
    out |= {k: view.identity[k] for k in keys if k not in out and k in view.identity}
    return out


def _known(view: ServingView, keys: list[str]) -> dict[str, str]:
    """key -> customer for keys that name a trained customer, a trained identifier or a live link."""
    out = _trained(view, keys)
    rest = [k for k in keys if k not in out]
    if rest:
        out |= view.store.linked_customers(rest)
    return out


class BatchResolver:
    """``resolve`` for many events of one request: the live links of every key in the batch are read
    in one query up front instead of one per event (most of an event's cost in a 500-event batch)."""

    def __init__(self, view: ServingView, all_keys: list[dict[str, str]]) -> None:
        self.view = view
        flat = list(dict.fromkeys(k for keys in all_keys for k in keys.values()))
        self.trained = _trained(view, flat)
        self.links = view.store.linked_customers([k for k in flat if k not in self.trained]) if flat else {}

    def resolve(self, keys: dict[str, str], now: float, link: bool = True) -> Resolved | None:
        if not keys:
            return None
        ordered = list(keys.values())
        known = {k: self.trained[k] for k in ordered if k in self.trained}
        known |= {k: self.links[k] for k in ordered if k not in known and k in self.links}
        return _decide(self.view, ordered, known, now, link, self.links)


def _decide(
    view: ServingView, ordered: list[str], known: dict[str, str], now: float, link: bool, cache: dict
) -> Resolved:
    customer = next((known[k] for k in ordered if k in known), None)
    key = customer if customer is not None else ordered[0]
    linked: list[str] = []
    if link and len(ordered) > 1:
        linked = view.store.link_identifiers([k for k in ordered if k not in known and k != key], key, now)
        cache.update(dict.fromkeys(linked, key))
    return Resolved(key, customer is not None, tuple(linked))


def resolve(view: ServingView, keys: dict[str, str], now: float, link: bool = True) -> Resolved | None:
    """The customer these identifier keys (``identifier_hashes``) name, linking the unknown ones to
    it. ``None`` when there is none."""
    if not keys:
        return None
    ordered = list(keys.values())
    return _decide(view, ordered, _known(view, ordered), now, link, {})


def resolve_one(view: ServingView, identifier: str, salt: str) -> Resolved:
    """A single identifier of unknown kind (a path parameter): customer id, loyalty id, email or phone.

    An identifier never seen before still gets a stable key (its salted hash), so events of a
    first-time visitor accumulate under one key until a link or the next training merges them.
    """
    if identifier in view.customers.index:
        return Resolved(identifier, True)
    kinds = ("email",) if "@" in identifier else ("loyalty_id", "phone")
    keys = [k for k in (identifier_key(kind, identifier, salt) for kind in kinds) if k is not None]
    known = _known(view, keys)
    for k in keys:
        if k in known:
            return Resolved(known[k], True)
    return Resolved(keys[0] if keys else identifier, False)
