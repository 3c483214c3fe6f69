"""Promotions in the email jobs: the rules of the ``email`` surface on every list, and the
newsletter's section of new arrivals and sale items picked by the person's category affinity.

The rules are the service's (``models/rules.py``; ``batch-recommend --rules FILE``, else the
bundle's shipped rules); a rule reaches the emails only when its ``surfaces`` name ``email``. A
promoted slot says so in its reason (``Featured by the shop``, ``On sale now``, ``New arrival``), and
a section item says why it was picked ("New arrival in Footwear, picked for you"). The section
follows the personalised list (ranks ``k + 1`` on), ``section_k`` items at most.

Loyalty members (the bundle's customer table, the live store's memberships winning) see the
member-only products their tier unlocks, boosted as the service boosts them (the rules file's
``loyalty.member_offer_boost``, reason ``member_offer``); nobody else ever gets them. A partition's
recipients are grouped by tier (``groups``) and each group is scored once with its own mask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models import artifacts as A
from models.catalog import Catalog
from models.loyalty import Member, hidden_products, unlocked_products
from models.promotions import member_offer_reason, picks_for, promote, signals
from models.recommend import Recommendation, RecommendationEngine
from models.rules import Loyalty, RuleSet, Signals

SURFACE = "email"


@dataclass
class EmailPromotions:
    rules: RuleSet | None
    signals: Signals
    affinity: dict[str, list[str]] = field(default_factory=dict)  # customer -> top categories, best first
    section_k: int = 0
    member_only: np.ndarray | None = None  # products no email to a non-member may show
    program: Loyalty = field(default_factory=Loyalty)  # the rules file's loyalty tiers and boost
    members: pd.Series | None = None  # customer_id -> loyalty tier, the recipients who are members

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        engine: RecommendationEngine,
        now: pd.Timestamp,
        rules_path: Path | None = None,
        section_k: int = 0,
        members: pd.Series | None = None,
    ) -> EmailPromotions:
        path = rules_path if rules_path is not None else Path(bundle_dir) / A.RULES
        rules = RuleSet.from_json(path) if path.is_file() else None
        catalog = engine.catalog
        prices = catalog.price_view("web", None, pd.Timestamp(now).timestamp())
        affinity: dict[str, list[str]] = {}
        if section_k and (Path(bundle_dir) / A.CATEGORY_AFFINITY).exists():
            frame = pd.read_parquet(Path(bundle_dir) / A.CATEGORY_AFFINITY)
            frame.columns = ["customer_id", "category", "affinity"]
            frame = frame.sort_values(["customer_id", "affinity", "category"], ascending=[True, False, True])
            affinity = {
                str(c): list(g["category"].astype(str)) for c, g in frame.groupby("customer_id", sort=False)
            }
        program = rules.loyalty if rules is not None else RuleSet().loyalty
        return cls(
            rules=rules,
            signals=signals(catalog, prices, now, engine.n_trained),
            affinity=affinity,
            section_k=int(section_k),
            member_only=hidden_products(catalog, program, None),
            program=program,
            members=members,
        )

    def hidden(self, catalog: Catalog, tier: str | None = None) -> np.ndarray | None:
        """Products no email shows: member-only ones (above ``tier``, every one for a non-member) and
        what the email rules hide."""
        member_only = self.member_only
        if tier is not None and member_only is not None:
            member_only = hidden_products(catalog, self.program, Member(tier))
        ruled = self.rules.hidden(SURFACE, catalog) if self.rules is not None else None
        if ruled is None:
            return member_only
        return ruled if member_only is None else (ruled | member_only)

    def groups(self, customers: pd.Index) -> list[tuple[np.ndarray, str | None]]:
        """The rows of ``customers`` per loyalty tier (None: not a member), non-members first; one
        group of everyone when the catalog has no member-only product or nobody is a member."""
        everyone = [(np.arange(len(customers)), None)]
        if self.member_only is None or self.members is None or self.members.empty:
            return everyone
        tiers = self.members.reindex(customers).to_numpy(dtype=object)
        tiers = np.array([t if isinstance(t, str) and t.strip() else "" for t in tiers], dtype=object)
        names = sorted(set(tiers.tolist()) - {""})
        if not names:
            return everyone
        out = [(np.flatnonzero(tiers == ""), None)] + [(np.flatnonzero(tiers == t), t) for t in names]
        return [(rows, tier) for rows, tier in out if rows.size]

    def offer(self, catalog: Catalog, tier: str | None) -> MemberOffer | None:
        """The boost of the member-only products ``tier`` unlocks (None: no member, nothing unlocked,
        or the boost off)."""
        if tier is None or self.program.member_offer_boost <= 1.0:
            return None
        unlocked = unlocked_products(catalog, self.program, Member(tier))
        return (
            None if unlocked is None else MemberOffer(tier, unlocked, float(self.program.member_offer_boost))
        )

    def members_fingerprint(self) -> dict | None:
        """What members change in the output (None when nothing: no member-only product or member)."""
        if self.member_only is None or self.members is None or self.members.empty:
            return None
        pairs = "\n".join(f"{c}\t{t}" for c, t in sorted(self.members.astype(str).items()))
        return {
            "members": len(self.members),
            "digest": hashlib.sha256(pairs.encode()).hexdigest()[:16],
            "member_offer_boost": self.program.member_offer_boost,
            "tiers": [t.name for t in self.program.tiers],
        }

    def active(self, campaign: str) -> bool:
        has_rules = self.rules is not None and bool(self.rules.for_surface(SURFACE))
        return has_rules or (campaign == "newsletter" and self.section_k > 0)

    def fingerprint(self) -> dict:
        return {
            "email_rules": [r.id for r in self.rules.for_surface(SURFACE)] if self.rules is not None else [],
            "new_and_sale": self.section_k,
        }

    def apply(
        self,
        campaign: str,
        engine: RecommendationEngine,
        customers: pd.Index,
        ids: np.ndarray,
        scores: np.ndarray,
        reasons: np.ndarray,
        eligible: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each person's list with the email rules applied and, for the newsletter, the section
        after it: (n, k + section_k) ids, scores and reasons, -1 / "" padded."""
        section = self.section_k if campaign == "newsletter" else 0
        width = k + section
        out_ids = np.full((len(customers), width), -1, np.int32)
        out_scores = np.full((len(customers), width), -np.inf, np.float32)
        out_reasons = np.full((len(customers), width), "", dtype=object)
        catalog = engine.catalog
        popularity = engine.popularity(np.arange(len(catalog)))
        for row, customer in enumerate(customers):
            keep = np.flatnonzero(ids[row] >= 0)
            recs = [
                Recommendation(int(ids[row, j]), float(scores[row, j]), "", str(reasons[row, j]))
                for j in keep
            ]
            if self.rules is not None and recs:
                recs, _ = promote(self.rules, SURFACE, recs, catalog, eligible, self.signals, k)
            if section:
                shown = {r.item for r in recs}
                cats = self.affinity.get(str(customer), [])
                recs = recs + picks_for(catalog, self.signals, cats, eligible, popularity, section, shown)
            for j, rec in enumerate(recs[:width]):
                out_ids[row, j], out_scores[row, j], out_reasons[row, j] = rec.item, rec.score, rec.reason
        return out_ids, out_scores, out_reasons


@dataclass(frozen=True)
class MemberOffer:
    """The member-only products a tier unlocks and their boost, on a block of lists at once."""

    tier: str
    unlocked: np.ndarray  # bool per product
    factor: float

    def apply(
        self, ids: np.ndarray, scores: np.ndarray, reasons: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``models.promotions.boost_member_offers`` on every row of (n, k) ids / scores / reasons
        (-1 padded) at once: in a row holding an unlocked product, scores shifted positive (over the
        row's items) and the unlocked ones times ``factor``, re-ranked (stable), each boosted one's
        reason the member offer's. Rows without one are returned as they are."""
        valid = ids >= 0
        hit = valid & self.unlocked[np.maximum(ids, 0)]
        rows = np.flatnonzero(hit.any(axis=1))
        if self.factor <= 1.0 or rows.size == 0:
            return ids, scores, reasons
        ids, scores, reasons = ids.copy(), scores.copy(), reasons.astype(object).copy()
        v, h = valid[rows], hit[rows]
        s = np.nan_to_num(scores[rows].astype(np.float64), posinf=0.0, neginf=0.0)
        low = np.where(v, s, np.inf).min(axis=1, keepdims=True)
        boosted = np.where(v, (s - low + 1.0) * np.where(h, self.factor, 1.0), -np.inf)
        order = np.argsort(-boosted, axis=1, kind="stable")
        r = rows[:, None]
        sub_reasons = np.where(h, member_offer_reason(self.tier), reasons[rows])
        ids[rows] = np.take_along_axis(ids[rows], order, axis=1)
        scores[rows] = np.take_along_axis(boosted, order, axis=1).astype(scores.dtype)
        reasons[r, np.arange(ids.shape[1])] = np.take_along_axis(sub_reasons, order, axis=1)
        return ids, scores, reasons
