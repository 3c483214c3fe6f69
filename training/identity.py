"""Identity resolution: one ``customer_id`` per person across loyalty card, emails and phones.

Every customer record and every event that carries two or more identifiers (an app login with
loyalty id and email, a guest order with email and phone) is evidence that those identifiers belong
to one person. Identifiers are graph nodes, co-occurrence is an edge, and a person is a connected
component (scipy's ``connected_components``, i.e. union-find at C speed). Only salted hashes leave
this module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from models.columns import per_distinct
from models.pii import IDENTIFIER_TYPES, hash_identifier, mask, normalize_identifier


@dataclass
class IdentityGraph:
    """Result of resolution: a map from hashed identifier to customer, and per-customer facts."""

    identity_map: pd.DataFrame  # identifier_type, identifier_hash, customer_id
    customers: pd.DataFrame  # customer_id, masked ids, consent, home store, n_identifiers
    hash_memo: dict[str, dict] = field(default_factory=dict, repr=False)
    """raw identifier -> hash per type, kept from ``resolve`` so ``customer_of`` on the same events
    does not normalise and HMAC millions of values again; ``clear()`` it once done (memory)."""

    def customer_of(self, frame: pd.DataFrame, salt: str) -> pd.Series:
        """``customer_id`` of each row of ``frame`` from whichever identifier it carries, else NA."""
        lookup = dict(
            zip(self.identity_map["identifier_hash"], self.identity_map["customer_id"], strict=True)
        )
        # str (Arrow) throughout: an object Series here held one Python string per event (~1.3 GB at 20M)
        result = pd.Series(np.nan, index=frame.index, dtype="str")
        for kind in IDENTIFIER_TYPES:
            if kind not in frame.columns:
                continue
            memo = self.hash_memo.setdefault(kind, {})
            found = per_distinct(
                frame[kind], lambda raw, k=kind, m=memo: lookup.get(_hash_one(k, raw, salt, m))
            )
            result = result.where(result.notna(), found)
        return result


def _hash_one(kind: str, raw: object, salt: str, memo: dict) -> str | None:
    if raw not in memo:
        normalized = normalize_identifier(kind, raw)
        memo[raw] = None if normalized is None else hash_identifier(kind, normalized, salt)
    return memo[raw]


def _hash_column(values: pd.Series, kind: str, salt: str, memo: dict | None = None) -> pd.Series:
    """Normalise and hash a column, computing each distinct value once (and, with ``memo``, once
    across calls)."""
    memo = {} if memo is None else memo
    return per_distinct(values, lambda raw: _hash_one(kind, raw, salt, memo))


def _customer_id(member_hashes: np.ndarray) -> str:
    """Stable id: derived from the smallest identifier hash, so retraining keeps ids stable."""
    return "c_" + hashlib.sha256(min(member_hashes).encode()).hexdigest()[:16]


def resolve(
    customers: pd.DataFrame,
    events: pd.DataFrame,
    salt: str,
    unsubscribed_emails: pd.Series | None = None,
    hashed: pd.DataFrame | None = None,
) -> IdentityGraph:
    """Link identifiers into people from customer records and multi-identifier events.

    ``hashed``: more evidence whose identifiers are already salted hashes, one column per kind (the
    service's own events, ``training.live_events``): each row links its hashes like an event does.
    """
    sources = [customers[[*IDENTIFIER_TYPES]].assign(_src="customers")] if not customers.empty else []
    ev_ids = events[[*IDENTIFIER_TYPES]]
    ev_ids = ev_ids[ev_ids.notna().any(axis=1)].drop_duplicates()
    sources.append(ev_ids.assign(_src="events"))
    rows = pd.concat(sources, ignore_index=True)

    memo: dict[str, dict] = {kind: {} for kind in IDENTIFIER_TYPES}
    keys = pd.DataFrame({kind: _hash_column(rows[kind], kind, salt, memo[kind]) for kind in IDENTIFIER_TYPES})
    if hashed is not None and not hashed.empty:
        extra = hashed.reindex(columns=list(IDENTIFIER_TYPES)).astype(object)
        extra = extra[extra.notna().any(axis=1)].drop_duplicates()
        keys = pd.concat([keys, extra.where(extra.notna(), None)], ignore_index=True)
    long = keys.reset_index(names="row").melt(
        id_vars="row", var_name="identifier_type", value_name="identifier_hash"
    )
    long = long.dropna(subset=["identifier_hash"])
    node_codes, node_keys = pd.factorize(long["identifier_hash"])
    long["node"] = node_codes
    # Link every identifier of a row to the row's first identifier: a star per row suffices.
    first = long.groupby("row")["node"].transform("first").to_numpy()
    n = len(node_keys)
    graph = coo_matrix((np.ones(len(long), dtype=np.int8), (long["node"].to_numpy(), first)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)

    nodes = long.drop_duplicates("node")[["node", "identifier_type", "identifier_hash"]].sort_values("node")
    nodes["component"] = labels[nodes["node"].to_numpy()]
    # One vectorised min per component, then one sha256 per person (not a Python lambda per group).
    smallest = nodes.groupby("component")["identifier_hash"].min()
    cid = pd.Series([_customer_id([h]) for h in smallest.to_numpy()], index=smallest.index)
    nodes["customer_id"] = nodes["component"].map(cid)
    identity_map = nodes[["identifier_type", "identifier_hash", "customer_id"]].reset_index(drop=True)

    graph_result = IdentityGraph(identity_map=identity_map, customers=pd.DataFrame(), hash_memo=memo)
    graph_result.customers = _customer_table(customers, graph_result, salt, unsubscribed_emails)
    return graph_result


def _customer_table(
    customers: pd.DataFrame, graph: IdentityGraph, salt: str, unsubscribed_emails: pd.Series | None
) -> pd.DataFrame:
    """Per person: masked identifiers for the associate, consent, home store, email hash for batch jobs."""
    per_customer = graph.identity_map.groupby("customer_id").agg(n_identifiers=("identifier_hash", "size"))
    if customers.empty:
        return per_customer.reset_index().assign(
            masked_loyalty_id=None,
            masked_email=None,
            masked_phone=None,
            email_hash=None,
            email_consent=False,
            home_store_id=None,
            loyalty_tier=None,
            loyalty_points=np.nan,
            loyalty_joined=pd.NaT,
        )
    recs = customers.copy()
    recs["customer_id"] = graph.customer_of(recs, salt)
    unsub = set()
    if unsubscribed_emails is not None:
        unsub = set(
            _hash_column(unsubscribed_emails, "email", salt, graph.hash_memo.setdefault("email", {})).dropna()
        )
    recs["email_hash"] = _hash_column(recs["email"], "email", salt, graph.hash_memo.setdefault("email", {}))
    recs["unsubscribed"] = recs["email_hash"].isin(unsub)
    recs = recs.sort_values("created_at", na_position="first", kind="stable")
    consent_email = recs[recs["email_consent"] & ~recs["unsubscribed"] & recs["email_hash"].notna()]
    # groupby ``last`` skips missing values: each person's latest non-empty value per column, in C.
    # Masking after the choice (ingest quarantined malformed ids, so a present id always masks)
    # calls ``mask`` once per person instead of once per record.
    grouped = recs.groupby("customer_id")
    agg = grouped[[*IDENTIFIER_TYPES, "home_store_id"]].last()
    for kind in IDENTIFIER_TYPES:
        agg[f"masked_{kind}"] = [mask(kind, v) if pd.notna(v) else None for v in agg.pop(kind).to_numpy()]
    agg["any_unsubscribed"] = grouped["unsubscribed"].any()
    agg = agg[["masked_loyalty_id", "masked_email", "masked_phone", "home_store_id", "any_unsubscribed"]]
    contact = consent_email.groupby("customer_id")["email_hash"].last().rename("email_hash")
    table = per_customer.join(agg, how="left").join(contact, how="left")
    # A person who unsubscribed any of their addresses gets no marketing email at all.
    table["email_consent"] = table["email_hash"].notna() & ~table["any_unsubscribed"].fillna(False).astype(
        bool
    )
    table.loc[~table["email_consent"], "email_hash"] = None
    table = table.join(_membership(recs), how="left")
    return table.drop(columns=["any_unsubscribed"]).reset_index()


def _membership(recs: pd.DataFrame) -> pd.DataFrame:
    """Per person, the loyalty facts of their latest record with a tier (tier, points and joined
    from that one record, so they agree): what the service's profile and member boosts read."""
    columns = ["loyalty_tier", "loyalty_points", "loyalty_joined"]
    if "loyalty_tier" not in recs.columns:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="customer_id"))
    members = recs[recs["loyalty_tier"].notna() & recs["customer_id"].notna()]
    out = members.drop_duplicates("customer_id", keep="last").set_index("customer_id")[columns].copy()
    out["loyalty_tier"] = out["loyalty_tier"].astype(object)
    out["loyalty_points"] = pd.to_numeric(out["loyalty_points"], errors="coerce").astype(np.float64)
    out["loyalty_joined"] = pd.to_datetime(out["loyalty_joined"], utc=True, errors="coerce")
    return out


def resolvable_truth(truth: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    """Truth restricted to links the data can support: identifiers of one person connected by rows
    (records or events) carrying several of them, matched through the truth's own normalised values.

    This is the ceiling of any resolver that has no names or addresses: a web account and a loyalty
    card never used together are one person, but nothing in the data says so.
    """
    lookup = {
        (k, str(v)): n
        for k, v, n in zip(
            truth["identifier_type"], truth["identifier_value"], truth["normalized_value"], strict=True
        )
    }
    nodes = {
        (k, n): i
        for i, (k, n) in enumerate(
            dict.fromkeys(zip(truth["identifier_type"], truth["normalized_value"], strict=True))
        )
    }
    rows, cols = [], []
    for row in evidence[[*IDENTIFIER_TYPES]].drop_duplicates().itertuples(index=False):
        ids = [
            nodes.get((k, lookup.get((k, str(v)))))
            for k, v in zip(IDENTIFIER_TYPES, row, strict=True)
            if pd.notna(v)
        ]
        ids = [i for i in ids if i is not None]
        rows += ids
        cols += [ids[0]] * len(ids) if ids else []
    n = len(nodes)
    _, labels = connected_components(
        coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)), directed=False
    )
    component = [
        labels[nodes[(k, v)]]
        for k, v in zip(truth["identifier_type"], truth["normalized_value"], strict=True)
    ]
    out = truth.copy()
    out["person_id"] = out["person_id"].astype(str) + "#" + pd.Series(component, index=out.index).astype(str)
    return out


def merge_quality(
    identity_map: pd.DataFrame, truth: pd.DataFrame, salt: str, evidence: pd.DataFrame | None = None
) -> dict[str, float]:
    """Pairwise precision and recall of the merge against ground truth (evaluation only).

    ``truth`` has identifier_type, identifier_value, person_id. A pair of identifiers is a true
    positive when both are in one predicted customer and one true person.
    """
    t = truth.copy()
    t["identifier_hash"] = [
        (None if (n := normalize_identifier(k, v)) is None else hash_identifier(k, n, salt))
        for k, v in zip(t["identifier_type"], t["identifier_value"], strict=True)
    ]
    t = t.dropna(subset=["identifier_hash"]).drop_duplicates("identifier_hash")
    joined = t.merge(identity_map[["identifier_hash", "customer_id"]], on="identifier_hash", how="inner")

    def pairs(counts: pd.Series) -> float:
        c = counts.to_numpy(dtype=np.float64)
        return float(np.sum(c * (c - 1) / 2))

    tp = pairs(joined.groupby(["customer_id", "person_id"]).size())
    predicted = pairs(joined.groupby("customer_id").size())
    actual = pairs(joined.groupby("person_id").size())
    result = {
        "precision": tp / predicted if predicted else 1.0,
        "recall": tp / actual if actual else 1.0,
        "identifiers_evaluated": int(len(joined)),
        "customers": int(joined["customer_id"].nunique()),
        "persons": int(joined["person_id"].nunique()),
    }
    if evidence is not None and "normalized_value" in truth.columns:
        linked = merge_quality(identity_map, resolvable_truth(truth, evidence), salt)
        result["recall_resolvable"] = linked["recall"]
        result["precision_resolvable"] = linked["precision"]
    return result
