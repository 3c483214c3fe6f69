"""The customer side of a bundle: who is who, what they did, which categories they like.

What identity resolution and the history stages wrote, loaded as one immutable book: the service
resolves identifiers through it, shows the associate the timeline and tilts search towards a
customer's categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models import artifacts as A
from models.history import Interaction, load_history


def _no_customers() -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], name="customer_id", dtype=object))


@dataclass(frozen=True)
class CustomerBook:
    """Identity map, customer table, category affinity and trained history of one bundle. Empty
    for a search-only bundle: search still takes ``customer_id`` (no re-rank), the recommendation
    and profile endpoints answer 503 (see ``service.deps.require_recs``)."""

    identity: dict[str, str] = field(default_factory=dict)  # identifier hash -> customer_id
    customers: pd.DataFrame = field(default_factory=_no_customers)  # indexed by customer_id
    affinity: dict[str, dict[str, float]] = field(default_factory=dict)
    history: dict[str, list[Interaction]] = field(default_factory=dict)

    def prepare(self) -> CustomerBook:
        """Build the customer index's hash table now (pandas builds it on the first lookup), so
        pre-forked workers share it; see ``BundleView.load``."""
        self.customers.index.get_indexer(self.customers.index[:1])
        return self

    @classmethod
    def load(cls, bundle_dir: Path) -> CustomerBook:
        bundle_dir = Path(bundle_dir)
        identity_map = pd.read_parquet(bundle_dir / A.IDENTITY_MAP)
        affinity: dict[str, dict[str, float]] = {}
        for cid, cat, aff in pd.read_parquet(bundle_dir / A.CATEGORY_AFFINITY).itertuples(index=False):
            affinity.setdefault(cid, {})[cat] = float(aff)
        return cls(
            identity=dict(zip(identity_map["identifier_hash"], identity_map["customer_id"], strict=True)),
            customers=pd.read_parquet(bundle_dir / A.CUSTOMERS).set_index("customer_id"),
            affinity=affinity,
            history=load_history(bundle_dir / A.HISTORY),
        )
