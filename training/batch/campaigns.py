"""Who gets which campaign: selection rules over resolved events, pure pandas in, pandas out.

Everything here is keyed by the resolved ``customer_id`` (a person), never by an identifier, so
a shopper who carted on the app with their email and bought in a store with their loyalty card is
one person with a closed cart and at most one email.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from models.errors import OmnirankError

CAMPAIGNS = ("abandoned-cart", "post-purchase", "newsletter", "replenishment")

PAIR_COLUMNS = ["customer_id", "item", "at", "channel"]


class CampaignError(OmnirankError, ValueError):
    """The campaign name or its inputs make no sense (user-facing message)."""


def check_campaign(name: str) -> str:
    if name not in CAMPAIGNS:
        raise CampaignError(f"unknown campaign {name!r}; choose one of {', '.join(CAMPAIGNS)}")
    return name


def _typed(events: pd.DataFrame, etype: str) -> pd.DataFrame:
    ev = events[(events["type"].astype(str) == etype) & events["customer_id"].notna() & (events["item"] >= 0)]
    return pd.DataFrame(
        {
            "customer_id": ev["customer_id"].astype(str).to_numpy(),
            "item": ev["item"].to_numpy(dtype="int64"),
            "at": pd.to_datetime(ev["timestamp"], utc=True).to_numpy(),
            "channel": ev["channel"].astype(str).to_numpy(),
        }
    )


def audience(
    customers: pd.DataFrame, identity_map: pd.DataFrame, unsubscribed_hashes: Iterable[str]
) -> pd.DataFrame:
    """Consenting people with a contact address: (customer_id, email_hash), one row per person.

    ``customers`` is the bundle's person table, whose ``email_hash`` is only set for a consenting,
    not-unsubscribed address. Unsubscribes newer than the bundle win: a person any of whose
    addresses is in ``unsubscribed_hashes`` is dropped, as training does.
    """
    unsub = set(unsubscribed_hashes)
    ok = customers["email_hash"].notna() & customers["email_consent"].fillna(False).astype(bool)
    people = customers.loc[ok, ["customer_id", "email_hash"]].astype(str)
    emails = identity_map[identity_map["identifier_type"] == "email"]
    gone = set(emails.loc[emails["identifier_hash"].isin(unsub), "customer_id"].astype(str))
    people = people[~people["email_hash"].isin(unsub) & ~people["customer_id"].isin(gone)]
    return (
        people.drop_duplicates("customer_id").sort_values("customer_id", kind="stable").reset_index(drop=True)
    )


def members(
    customers: pd.DataFrame,
    identity_map: pd.DataFrame,
    live: pd.DataFrame | None,
    recipients: Iterable[str],
) -> pd.Series:
    """customer_id -> loyalty tier of the ``recipients`` who are members: the bundle's customer table
    (``loyalty_tier``, imported), overridden by the live store's memberships (``live``: loyalty_hash,
    customer_key, tier, oldest first; the latest of a person wins). A live card is the person its
    hash belongs to in the identity map, else the customer it was resolved to when written."""
    wanted = set(recipients)
    tiers: dict[str, str] = {}
    if "loyalty_tier" in customers.columns:
        imported = customers[customers["loyalty_tier"].notna()]
        for cid, tier in zip(imported["customer_id"].astype(str), imported["loyalty_tier"], strict=True):
            if isinstance(tier, str) and tier.strip():
                tiers[cid] = tier.strip()
    if live is not None and len(live):
        owner = dict(
            zip(identity_map["identifier_hash"], identity_map["customer_id"].astype(str), strict=True)
        )
        known = set(customers["customer_id"].astype(str))
        for card, key, tier in zip(live["loyalty_hash"], live["customer_key"], live["tier"], strict=True):
            cid = owner.get(card) or (key if key in known else owner.get(key))
            if cid is not None and isinstance(tier, str) and tier.strip():
                tiers[cid] = tier.strip()
    kept = {c: t for c, t in tiers.items() if c in wanted}
    return pd.Series(kept, dtype=object).sort_index()


def apply_consent(
    people: pd.DataFrame,
    statements: pd.DataFrame,
    identity_map: pd.DataFrame,
    unsubscribed_at: dict[str, pd.Timestamp],
) -> pd.DataFrame:
    """The audience after consent posted to the service (``POST /v1/customers/consent``).

    ``statements``: identifier_hash, kind, email_consent, stated_at (UTC), the latest per identifier.
    An opt-out of any identifier of a person removes the person (as an unsubscribe does); an opt-in
    of an email address that names a person adds that address, unless an unsubscribe of the same
    address in ``--data`` is newer than the opt-in (the latest statement wins).
    """
    if statements.empty:
        return people
    owner = dict(zip(identity_map["identifier_hash"], identity_map["customer_id"].astype(str), strict=True))
    outs = statements[~statements["email_consent"].astype(bool)]
    gone = {owner.get(h, h) for h in outs["identifier_hash"]}
    gone |= set(outs.loc[outs["kind"] == "customer_id", "identifier_hash"])
    ins = statements[statements["email_consent"].astype(bool) & (statements["kind"] == "email")]
    never = pd.Timestamp.min.tz_localize("UTC")
    added = [
        (owner[h], h)
        for h, at in zip(ins["identifier_hash"], ins["stated_at"], strict=True)
        if h in owner and pd.Timestamp(at) > unsubscribed_at.get(h, never)
    ]
    if added:
        fresh = pd.DataFrame(added, columns=["customer_id", "email_hash"])
        fresh = fresh[~fresh["customer_id"].isin(set(people["customer_id"]))]
        people = pd.concat([people, fresh], ignore_index=True)
    people = people[~people["customer_id"].isin(gone)]
    return (
        people.drop_duplicates("customer_id").sort_values("customer_id", kind="stable").reset_index(drop=True)
    )


def abandoned_carts(
    events: pd.DataFrame, now: pd.Timestamp, window_days: float, idle_hours: float = 0.0
) -> pd.DataFrame:
    """Open carts: (customer_id, item, at, channel) of the latest add-to-cart per person and item.

    A cart line counts when it is at most ``window_days`` old and at least ``idle_hours`` old, and
    no purchase of the same item by the same person in any channel (an online order or a POS
    receipt) happened at or after it.
    """
    now = pd.Timestamp(now)
    carts = _typed(events, "add_to_cart")
    carts = carts[
        (carts["at"] >= now - pd.Timedelta(days=window_days))
        & (carts["at"] <= now - pd.Timedelta(hours=idle_hours))
    ]
    carts = carts.sort_values("at", kind="stable").drop_duplicates(["customer_id", "item"], keep="last")
    buys = _typed(events, "purchase")
    buys = buys[buys["at"] <= now]
    last_buy = (
        buys.groupby(["customer_id", "item"], as_index=False)["at"].max().rename(columns={"at": "bought_at"})
    )
    merged = carts.merge(last_buy, on=["customer_id", "item"], how="left")
    open_ = merged[merged["bought_at"].isna() | (merged["bought_at"] < merged["at"])]
    return (
        open_[PAIR_COLUMNS]
        .sort_values(["customer_id", "at", "item"], ascending=[True, False, True])
        .reset_index(drop=True)
    )


def recent_purchases(events: pd.DataFrame, now: pd.Timestamp, window_days: float) -> pd.DataFrame:
    """Items each person bought online or in a store in the last ``window_days``, latest first."""
    now = pd.Timestamp(now)
    buys = _typed(events, "purchase")
    buys = buys[(buys["at"] >= now - pd.Timedelta(days=window_days)) & (buys["at"] <= now)]
    buys = buys.sort_values("at", kind="stable").drop_duplicates(["customer_id", "item"], keep="last")
    return (
        buys[PAIR_COLUMNS]
        .sort_values(["customer_id", "at", "item"], ascending=[True, False, True])
        .reset_index(drop=True)
    )


def due_replenishments(
    events: pd.DataFrame,
    now: pd.Timestamp,
    window_days: float,
    cycles: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> pd.DataFrame:
    """Consumables due for each person: (customer_id, item, at, channel), ``at`` the last purchase.

    An item is due when its due date (the person's last purchase of it in any channel, a POS
    receipt as much as an online order, plus ``cycles(customer_ids, items)``: their own cycle where
    learned, else the product's) is at most ``window_days`` before or after ``now``. A re-purchase
    restarts the cycle; an item the person returned is never due; durables (NaN cycle) never are.
    Per person the most overdue first.
    """
    now = pd.Timestamp(now)
    buys = _typed(events, "purchase")
    buys = buys[buys["at"] <= now]
    last = buys.sort_values("at", kind="stable").drop_duplicates(["customer_id", "item"], keep="last")
    returns = _typed(events, "return")
    returned = set(zip(returns["customer_id"], returns["item"], strict=True))
    cycle = cycles(last["customer_id"].to_numpy(dtype=object), last["item"].to_numpy(np.int64))
    due_at = last["at"] + pd.to_timedelta(np.where(np.isfinite(cycle), cycle, 0.0), unit="D")
    window = pd.Timedelta(days=window_days)
    keep = np.isfinite(cycle) & (due_at >= now - window).to_numpy() & (due_at <= now + window).to_numpy()
    if returned:
        keep &= ~np.array(
            [pair in returned for pair in zip(last["customer_id"], last["item"], strict=True)], dtype=bool
        )
    due = last.assign(due_at=due_at)[keep].sort_values(["customer_id", "due_at", "item"], kind="stable")
    return due[PAIR_COLUMNS].reset_index(drop=True)


def select(
    campaign: str,
    people: pd.DataFrame,
    events: pd.DataFrame,
    now: pd.Timestamp,
    *,
    cart_window_days: float,
    cart_idle_hours: float,
    purchase_window_days: float,
    replenishment_window_days: float = 7.0,
    cycles: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(recipients, seeds): who is in the campaign and the items that triggered it (empty for newsletter).

    ``cycles``: (customer_ids, items) -> purchase cycle in days (replenishment only).
    """
    check_campaign(campaign)
    if campaign == "newsletter":
        return people, pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    PAIR_COLUMNS, ["object", "int64", "datetime64[ns, UTC]", "object"], strict=True
                )
            }
        )
    if campaign == "abandoned-cart":
        seeds = abandoned_carts(events, now, cart_window_days, cart_idle_hours)
    elif campaign == "replenishment":
        if cycles is None:
            raise CampaignError("the replenishment campaign needs the bundle's purchase cycles")
        seeds = due_replenishments(events, now, replenishment_window_days, cycles)
    else:
        seeds = recent_purchases(events, now, purchase_window_days)
    seeds = seeds[seeds["customer_id"].isin(set(people["customer_id"]))].reset_index(drop=True)
    recipients = people[people["customer_id"].isin(set(seeds["customer_id"]))].reset_index(drop=True)
    return recipients, seeds
