"""Member offers in the email jobs (issue 19), on the planted batch world of ``test_batch.py``
with a loyalty programme: P04 is gold-only; alice is gold and dave silver in the bundle's customer
table (imported ``loyalty_tier``), erin a member only through the live store's loyalty table. A
member's lists hold the member-only products their tier unlocks, boosted as the service boosts them
(``loyalty.member_offer_boost``, reason ``member_offer``); nobody below their tier ever gets them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_batch import (
    SALT,
    TRAINED_UNTIL,
    _build_bundle,
    _cid,
    _customers,
    _events,
    _options,
    _products,
    _write_data,
)

from models.promotions import member_offer_reason

GOLD_ONLY = "P04"
TIERS = [{"name": "silver"}, {"name": "gold", "min_points": 1000}]


def _loyal(root: Path, events: list[dict], unsubscribes: list[str]) -> Path:
    _write_data(root, events, unsubscribes)
    products = _products()
    products["member_tier_min"] = None
    products.loc[products["sku"] == GOLD_ONLY, "member_tier_min"] = "gold"
    products.to_parquet(root / "products.parquet", index=False)
    customers = _customers()
    customers["loyalty_tier"] = customers["loyalty_id"].map({"L1": "gold", "L4": "silver"})
    customers.to_parquet(root / "customers.parquet", index=False)
    return root


@pytest.fixture(scope="module")
def loyal_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loyal_world")
    events = _events()
    trained = [e for e in events if pd.Timestamp(e["timestamp"]) <= TRAINED_UNTIL]
    bundle = _build_bundle(_loyal(root / "train", trained, []), root / "bundles")
    data = _loyal(root / "data", events, ["BOB@x.com "])
    return {"bundle": bundle, "data": data, "root": root}


def _rules(root: Path, boost: float) -> Path:
    path = root / f"rules-{boost}.json"
    path.write_text(json.dumps({"loyalty": {"tiers": TIERS, "member_offer_boost": boost}}))
    return path


def _job(world, tmp_path, campaign: str, boost: float, store: Path | None = None, k: int = 5):
    from models.config import Settings
    from training.batch.job import prepare

    options = _options(campaign)
    options.rules, options.k = _rules(tmp_path, boost), k
    return prepare(
        world["bundle"], world["data"], options, Settings(pii_salt=SALT), tmp_path / "q.jsonl", store=store
    )


def _score(job) -> pd.DataFrame:
    from training.batch.partition import score_partition

    return pa.concat_tables([score_partition(job, p) for p in range(job.n_partitions)]).to_pandas()


def _people(world: dict[str, Path], out: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each planted person's list, rank order: sku, score, reason."""
    lists = {}
    for person in ("alice", "dave", "erin"):
        rows = out[out["customer_id"] == _cid(world, f"{person}@x.com")].sort_values("rank")
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        lists[person] = rows[["sku", "score", "reason"]].reset_index(drop=True)
    return lists


def _everyone_sees_everything(job) -> pd.DataFrame:
    """The reference: the same job with no member-only product hidden and no member boosted."""
    job.promotions.member_only = None
    job.promotions.members = None
    return _score(job)


def _boosted(plain: pd.DataFrame, factor: float, tier: str) -> pd.DataFrame:
    """The service's member boost (models.promotions.boost_member_offers), spelled out on one list."""
    hit = plain["sku"].eq(GOLD_ONLY).to_numpy()
    scores = plain["score"].to_numpy(np.float64)
    boosted = (scores - scores.min() + 1.0) * np.where(hit, factor, 1.0)
    out = plain.assign(
        score=boosted.astype(np.float32), reason=np.where(hit, member_offer_reason(tier), plain["reason"])
    )
    return out.iloc[np.argsort(-boosted, kind="stable")].reset_index(drop=True)


def test_gold_member_newsletter_boosts_the_gold_only_product(loyal_world, tmp_path):
    w = loyal_world
    job = _job(w, tmp_path, "newsletter", 2.0)
    assert job.fingerprint["loyalty"]["members"] == 2  # alice gold, dave silver (imported)
    got = _people(w, _score(job))
    plain = _people(w, _everyone_sees_everything(job))
    # planted: unboosted, P04 is alice's 5th; twice its shifted score puts it first
    assert plain["alice"]["sku"].tolist() == ["P02", "P09", "P10", "P05", GOLD_ONLY]
    assert got["alice"]["sku"].tolist() == [GOLD_ONLY, "P02", "P09", "P10", "P05"]
    assert got["alice"]["reason"][0] == "Member offer, unlocked by your gold tier"
    pd.testing.assert_frame_equal(got["alice"], _boosted(plain["alice"], 2.0, "gold"))
    # silver and non-members never get it: their lists are the ones without it
    for person in ("dave", "erin"):
        assert GOLD_ONLY not in got[person]["sku"].tolist()
        assert not got[person]["reason"].str.startswith("Member offer").any()
    no_members = _job(w, tmp_path, "newsletter", 2.0)
    no_members.promotions.members = None
    base = _people(w, _score(no_members))
    for person in ("dave", "erin"):
        pd.testing.assert_frame_equal(got[person], base[person])
    assert GOLD_ONLY not in base["alice"]["sku"].tolist()  # with nobody a member, nobody gets it


def test_boost_one_is_the_plain_list_plus_eligibility(loyal_world, tmp_path):
    w = loyal_world
    job = _job(w, tmp_path, "newsletter", 1.0)
    got = _people(w, _score(job))
    plain = _people(w, _everyone_sees_everything(job))
    pd.testing.assert_frame_equal(got["alice"], plain["alice"])
    assert GOLD_ONLY in got["alice"]["sku"].tolist()
    assert got["alice"]["reason"].str.startswith("Picked for you").all()
    assert _job(w, tmp_path, "newsletter", 2.0).fingerprint["fingerprint"] != job.fingerprint["fingerprint"]


def test_member_offer_among_a_gold_members_cart_complements(loyal_world, tmp_path):
    w = loyal_world
    got = _people(w, _score(_job(w, tmp_path, "abandoned-cart", 2.0)))
    assert got["alice"][["sku", "reason"]].values.tolist() == [
        ["P06", "Still in your cart"],
        ["P03", "Still in your cart"],
        [GOLD_ONLY, "Member offer, unlocked by your gold tier"],
        ["P05", "Goes with Product 6 in your cart"],
    ]
    assert got["alice"]["score"].tolist() == [1.0, 1.0, 2.0, 1.0]


def test_live_store_memberships_win(loyal_world, tmp_path):
    """The live loyalty table: erin (no card in --data) made gold under her customer key, alice's
    card L1 moved down to silver; the live write wins over the imported tier."""
    from models.pii import identifier_key
    from models.store import LiveStore
    from models.store.loyalty_tables import Membership

    w = loyal_world
    erin = _cid(w, "erin@x.com")
    store = tmp_path / "store.db"
    with LiveStore(store) as live:
        live.put_loyalty([Membership("h-erin-card", erin, "gold", 1200)], 1.0)
        live.put_loyalty([Membership(identifier_key("loyalty_id", "L1", SALT), "somebody", "gold")], 1.0)
        live.put_loyalty([Membership(identifier_key("loyalty_id", "L1", SALT), "somebody", "silver")], 2.0)
    job = _job(w, tmp_path, "newsletter", 2.0, store=store, k=8)
    assert job.fingerprint["loyalty"]["members"] == 3
    got = _people(w, _score(job))
    plain = _people(w, _everyone_sees_everything(job))
    assert plain["erin"]["sku"].tolist()[-1] == GOLD_ONLY  # planted: her 8th when she may see it
    assert got["erin"]["sku"].tolist()[:2] == [GOLD_ONLY, "P02"]  # twice the shifted lowest score
    pd.testing.assert_frame_equal(got["erin"], _boosted(plain["erin"], 2.0, "gold"))
    assert got["erin"]["reason"].eq("Member offer, unlocked by your gold tier").sum() == 1
    for person in ("alice", "dave"):  # alice's card now silver: her imported gold no longer counts
        assert GOLD_ONLY not in got[person]["sku"].tolist()
        assert not got[person]["reason"].str.startswith("Member offer").any()
