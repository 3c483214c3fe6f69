"""Promotions in the email jobs: the rules of the ``email`` surface on every list, and the
newsletter's section of new arrivals and sale items picked by the person's category affinity.

The rules are the service's (``models/rules.py``; ``batch-recommend --rules FILE``, else the
bundle's shipped rules); a rule reaches the emails only when its ``surfaces`` name ``email``. A
promoted slot says so in its reason (``Featured by the shop``, ``On sale now``, ``New arrival``), and
a section item says why it was picked ("New arrival in Footwear, picked for you"). The section
follows the personalised list (ranks ``k + 1`` on), ``section_k`` items at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models import artifacts as A
from models.catalog import Catalog
from models.loyalty import hidden_products
from models.promotions import picks_for, promote, signals
from models.recommend import Recommendation, RecommendationEngine
from models.rules import RuleSet, Signals

SURFACE = "email"


@dataclass
class EmailPromotions:
    rules: RuleSet | None
    signals: Signals
    affinity: dict[str, list[str]] = field(default_factory=dict)  # customer -> top categories, best first
    section_k: int = 0
    member_only: np.ndarray | None = None  # products no email to a non-member may show

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        engine: RecommendationEngine,
        now: pd.Timestamp,
        rules_path: Path | None = None,
        section_k: int = 0,
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
        )

    def hidden(self, catalog: Catalog) -> np.ndarray | None:
        """Products no email shows: member-only ones and what the email rules hide."""
        ruled = self.rules.hidden(SURFACE, catalog) if self.rules is not None else None
        if ruled is None:
            return self.member_only
        return ruled if self.member_only is None else (ruled | self.member_only)

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
