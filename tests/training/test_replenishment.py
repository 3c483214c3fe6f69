"""Replenishment (issue 19): purchase cycles per product and per person, the replenishment campaign,
due items in served lists, and the held-out measurement, on planted data with exact answers.

The planted retailer (NOW = 2026-10-01 12:00 UTC; the bundle is trained until NOW - 5 days):
  C01 Dog Food (Pets > Dog Food, declared 14 days), C02 Detergent (Home > Laundry, declared 45),
  D01 Coffee Machine (durable), F01..F04 fillers bought together in baskets.
  ann  [loyalty L1, ann@x.com]  C01 in store by POS every 10 days (last NOW-10); C02 online every 30
                                days (last NOW-15, due NOW+15)
  bea  [bea@x.com]              C01 online every 6 days, 4 times (last NOW-7): her own cycle 7.6
  cat  [loyalty L3, cat@x.com]  C02 online every 30 days (last in training NOW-30: due NOW), then
                                re-bought by POS at NOW-1 (in --data only, after the bundle)
  dan  [dan@x.com]              C01 every 10 days like ann (due NOW), unsubscribed after training
  eve  [eve@x.com]              C01 once, NOW-10: the product's cycle (10) makes it due
  fay  [fay@x.com]              the durable D01 at NOW-10: never due
plus six shoppers without consent who buy C01 every 10 days and C02 every 30 days (3 times each)
and the fillers in baskets: C01's product cycle is 10 days, C02's 30 (7+ repeat buyers each).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_batch import _build_bundle as build_small_bundle

SALT = "replenish-test-salt"
NOW = pd.Timestamp("2026-10-01T12:00:00Z")
TRAINED_UNTIL = NOW - pd.Timedelta(days=5)
DAY = pd.Timedelta(days=1)


def _products() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": ["C01", "C02", "D01", "F01", "F02", "F03", "F04"],
            "title": ["Dog Food", "Detergent", "Coffee Machine", "Leash", "Bowl", "Softener", "Mug"],
            "category": [
                "Pets > Dog Food",
                "Home > Laundry",
                "Kitchen > Machines",
                "Pets > Leashes",
                "Pets > Bowls",
                "Home > Softeners",
                "Kitchen > Mugs",
            ],
            "price": [20.0, 9.0, 150.0, 12.0, 8.0, 6.0, 7.0],
            "replenishment_days": [14.0, 45.0, np.nan, np.nan, np.nan, np.nan, np.nan],
        }
    )


def _events() -> list[dict]:
    ev: list[dict] = []

    def buy(when: pd.Timestamp, sku: str, channel: str = "web", **ids: str) -> None:
        row = {"event_id": f"e{len(ev)}", "type": "purchase", "timestamp": when.isoformat()}
        row.update({"channel": channel, "sku": sku, "basket_id": f"b{len(ev)}", **ids})
        if channel == "store":
            row["store_id"] = "S1"
        ev.append(row)

    for n in range(6):  # shoppers without consent: the product cycles and co-purchase
        who = {"email": f"filler{n}@x.com"}
        for k in range(3):
            buy(TRAINED_UNTIL - (60 - 10 * k) * DAY, "C01", **who)
            buy(TRAINED_UNTIL - (100 - 30 * k) * DAY, "C02", **who)
        for a, b in (("F01", "F02"), ("F03", "F04")):
            basket = f"fb{n}{a}"
            for sku in (a, b):
                ev.append(
                    {
                        "event_id": f"e{len(ev)}",
                        "type": "purchase",
                        "timestamp": (TRAINED_UNTIL - (20 + n) * DAY).isoformat(),
                        "channel": "web",
                        "sku": sku,
                        "basket_id": basket,
                        **who,
                    }
                )
    for days in (40, 30, 20, 10):
        buy(NOW - days * DAY, "C01", "store", loyalty_id="L1")  # ann, POS
        buy(NOW - days * DAY, "C01", email="dan@x.com")
    for days in (75, 45, 15):
        buy(NOW - days * DAY, "C02", email="ann@x.com")
    for days in (25, 19, 13, 7):
        buy(NOW - days * DAY, "C01", email="bea@x.com")
    for days in (90, 60, 30):
        buy(NOW - days * DAY, "C02", email="cat@x.com")
    buy(NOW - 1 * DAY, "C02", "store", loyalty_id="L3")  # cat re-bought at a till, after training
    buy(NOW - 10 * DAY, "C01", email="eve@x.com")
    buy(NOW - 10 * DAY, "D01", email="fay@x.com")
    buy(NOW - 12 * DAY, "F01", email="fay@x.com")
    return ev


def _customers() -> pd.DataFrame:
    rows = [
        ("r1", "loyalty", "L1", "ann@x.com", True),
        ("r2", "web", None, "bea@x.com", True),
        ("r3", "loyalty", "L3", "cat@x.com", True),
        ("r4", "web", None, "dan@x.com", True),
        ("r5", "web", None, "eve@x.com", True),
        ("r6", "web", None, "fay@x.com", True),
    ] + [(f"f{n}", "web", None, f"filler{n}@x.com", False) for n in range(6)]
    return pd.DataFrame(rows, columns=["record_id", "source", "loyalty_id", "email", "email_consent"])


def _write_data(root: Path, events: list[dict], unsubscribes: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _products().to_parquet(root / "products.parquet", index=False)
    pd.DataFrame({"store_id": ["S1"], "name": ["Store 1"]}).to_parquet(root / "stores.parquet", index=False)
    pd.DataFrame({"store_id": "S1", "sku": _products()["sku"], "stock": 5}).to_parquet(
        root / "inventory.parquet", index=False
    )
    _customers().to_parquet(root / "customers.parquet", index=False)
    pd.DataFrame({"email": unsubscribes, "unsubscribed_at": [NOW] * len(unsubscribes)}).to_parquet(
        root / "unsubscribes.parquet", index=False
    )
    with open(root / "events.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
    return root


def _build_bundle(train_dir: Path, bundles: Path) -> Path:
    """The batch tests' small bundle over this module's planted data, with the learned cycles."""
    return build_small_bundle(
        train_dir,
        bundles,
        salt=SALT,
        components=("popularity", "item_knn"),
        component_params={},
        knowledge=True,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("replenish_world")
    events = _events()
    trained = [e for e in events if pd.Timestamp(e["timestamp"]) <= TRAINED_UNTIL]
    bundle = _build_bundle(_write_data(root / "train", trained, []), root / "bundles")
    return {"bundle": bundle, "data": _write_data(root / "data", events, ["Dan@x.com"])}


def _cid(world: dict[str, Path], kind: str, value: str) -> str:
    from models.pii import identifier_key

    imap = pd.read_parquet(world["bundle"] / "identity/identity_map.parquet")
    return imap.loc[imap["identifier_hash"] == identifier_key(kind, value, SALT), "customer_id"].iloc[0]


def _knowledge(world: dict[str, Path]):
    from models import artifacts as A
    from models.product_knowledge import ProductKnowledge

    return ProductKnowledge.load(world["bundle"] / A.PRODUCT_KNOWLEDGE)


# --- learning -------------------------------------------------------------------------------------
def test_product_and_person_cycles_are_the_planted_ones(world: dict[str, Path]) -> None:
    knowledge = _knowledge(world)
    assert {s: (c.cycle_days, c.repeaters) for s, c in knowledge.products.items()} == {
        "C01": (10.0, 9),  # 6 shoppers, ann (POS receipts), bea, dan
        "C02": (30.0, 8),  # 6 shoppers, ann, cat
    }
    people = knowledge.people.set_index(["customer_id", "sku"])
    ann, bea, cat = (_cid(world, "email", f"{p}@x.com") for p in ("ann", "bea", "cat"))
    assert people.loc[(ann, "C01"), "cycle_days"] == 10.0  # store purchases by loyalty card
    assert people.loc[(ann, "C02"), "cycle_days"] == 30.0
    # bea's own 6 days over 3 gaps, shrunk toward the product's 10 by 2 pseudo-gaps
    assert people.loc[(bea, "C01"), ["own_days", "purchases"]].tolist() == [6.0, 4]
    assert people.loc[(bea, "C01"), "cycle_days"] == pytest.approx((3 * 6 + 2 * 10) / 5)
    assert people.loc[(cat, "C02"), "cycle_days"] == 30.0
    eve = _cid(world, "email", "eve@x.com")
    assert eve not in set(knowledge.people["customer_id"])  # one purchase: the product's cycle
    # the product's own cycle overrides its category's declared one; durables stay without
    skus = _products()["sku"].to_numpy(dtype=object)
    cycles, durable = knowledge.item_arrays(_products()["category"].to_numpy(dtype=object), skus)
    assert cycles[:2].tolist() == [10.0, 30.0] and durable.tolist()[:3] == [False, False, True]
    assert np.isnan(cycles[2])


def test_too_few_repeaters_fall_back_to_the_category_cycle() -> None:
    from models.product_knowledge import ProductKnowledge

    purchases = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "sku": ["C01"] * 4,
            "timestamp": pd.to_datetime(["2026-01-01", "2026-01-11", "2026-01-01", "2026-01-11"], utc=True),
        }
    )
    knowledge = ProductKnowledge.learn(_products(), purchases, min_repeaters=3)
    assert knowledge.products == {}
    cycles, _ = knowledge.item_arrays(
        _products()["category"].to_numpy(dtype=object), _products()["sku"].to_numpy(dtype=object)
    )
    assert cycles[:2].tolist() == [14.0, 45.0]  # the declared category cycles


# --- the campaign -----------------------------------------------------------------------------
def _run(world: dict[str, Path], out: Path, window_days: float = 2.0) -> pd.DataFrame:
    from models.config import Settings
    from training.batch.job import BatchOptions, run_batch

    options = BatchOptions(campaign="replenishment", k=4, replenishment_window_days=window_days, now=NOW)
    run_batch(world["bundle"], world["data"], out, options, Settings(pii_salt=SALT))
    return pd.read_parquet(out)


def test_replenishment_emails_exactly_the_due_people_due_item_first(
    world: dict[str, Path], tmp_path: Path
) -> None:
    emails = _run(world, tmp_path / "restock")
    ann, bea, eve = (_cid(world, "email", f"{p}@x.com") for p in ("ann", "bea", "eve"))
    # cat re-bought at a till, dan unsubscribed, fay owns a durable; ann's C02 is due in 15 days
    assert sorted(emails["customer_id"].unique()) == sorted([ann, bea, eve])
    assert set(emails["campaign"]) == {"replenishment"}
    first = emails[emails["rank"] == 1].set_index("customer_id")
    assert first["sku"].to_dict() == {ann: "C01", bea: "C01", eve: "C01"}
    assert first.loc[ann, "reason"] == "Time to restock Dog Food: you bought it 10 days ago"
    assert first.loc[bea, "reason"] == "Time to restock Dog Food: you bought it 7 days ago"
    for _, mail in emails.groupby("customer_id"):
        rest = mail[mail["rank"] > 1]
        assert "C01" not in set(rest["sku"])  # the personal list follows, without the due item
        assert not rest["reason"].str.startswith("Time to restock").any()
        assert mail["score"].is_monotonic_decreasing or mail["score"].nunique() == 1
        assert mail["rank"].tolist() == list(range(1, len(mail) + 1))


def test_cli_replenishment_window_is_the_setting(world: dict[str, Path], tmp_path: Path) -> None:
    """``--campaign replenishment --now``: ann and eve are due exactly now, bea in 0.6 days, so a
    half-day window (OMNIRANK_BATCH_REPLENISHMENT_WINDOW_DAYS) leaves bea out."""
    from typer.testing import CliRunner

    from training.cli import app

    env = {
        "OMNIRANK_PII_SALT": SALT,
        "OMNIRANK_BATCH_K": "3",
        "OMNIRANK_BATCH_REPLENISHMENT_WINDOW_DAYS": "0.5",
        "OMNIRANK_EVENT_STORE_PATH": str(tmp_path / "no-such-store.sqlite3"),
    }
    args = ["batch-recommend", "--campaign", "replenishment", "--bundle", str(world["bundle"])]
    args += ["--data", str(world["data"]), "--now", NOW.isoformat(), "--out", str(tmp_path / "cli")]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(tmp_path / "cli")
    ann, eve = (_cid(world, "email", f"{p}@x.com") for p in ("ann", "eve"))
    assert sorted(out["customer_id"].unique()) == sorted([ann, eve])
    assert out.loc[out["rank"] == 1, "sku"].tolist() == ["C01", "C01"]


def test_bea_is_due_only_by_her_own_cycle(world: dict[str, Path], tmp_path: Path) -> None:
    """Her last purchase was 7 days ago: due now by her 7.6-day cycle, in 3 days by the product's."""
    from models import artifacts as A
    from models.catalog import Catalog
    from models.recommend import RecommendationEngine
    from training.batch.campaigns import due_replenishments

    engine = RecommendationEngine.load(world["bundle"], Catalog.load(world["bundle"] / A.CATALOG_DIR))
    bea = _cid(world, "email", "bea@x.com")
    item = engine.catalog.sku_index["C01"]
    assert engine.cycles_for(bea, np.array([item])).tolist() == [pytest.approx(7.6)]
    assert engine.cycles_for(None, np.array([item])).tolist() == [10.0]
    events = pd.DataFrame(
        {
            "customer_id": [bea],
            "type": ["purchase"],
            "item": [item],
            "timestamp": [NOW - 7 * DAY],
            "channel": ["web"],
        }
    )
    mine = due_replenishments(events, NOW, 1.0, engine.pair_cycles)
    product_only = due_replenishments(events, NOW, 1.0, lambda c, i: engine.cycle_days[i])
    assert mine["item"].tolist() == [item] and product_only.empty


def test_served_list_pins_the_due_item_with_the_restock_reason(world: dict[str, Path]) -> None:
    from models import artifacts as A
    from models.catalog import Catalog
    from models.history import load_history
    from models.recommend import Context, RecommendationEngine

    engine = RecommendationEngine.load(world["bundle"], Catalog.load(world["bundle"] / A.CATALOG_DIR))
    history = load_history(world["bundle"] / A.HISTORY)
    item = engine.catalog.sku_index["C01"]
    for person, due in (("ann", True), ("bea", True), ("fay", False)):
        cid = _cid(world, "email", f"{person}@x.com")
        row = engine.history_row(cid, [], {"purchase": 4.0})
        # at the run: ann's cycle (10 days) has passed, bea's own (7.6) too
        ctx = Context(now=NOW, channel="web", customer_id=cid)
        recs, cold = engine.for_customer(row, history[cid], ctx, k=5)
        restock = [r for r in recs if r.reason_code == "replenish"]
        assert not cold
        assert [r.item for r in restock] == ([item] if due else [])
        if due:
            assert restock[0].reason.startswith("Time to restock Dog Food: you bought it ")
    # with the product's 10-day cycle, bea (7 days since her purchase) would not be due until day 8
    bea = _cid(world, "email", "bea@x.com")
    ctx = Context(now=NOW, channel="web")
    assert engine.due_consumables(history[bea], ctx) == []


# --- the held-out measurement -----------------------------------------------------------------
def test_held_out_precision_and_recall_of_due_predictions_against_the_fixed_interval() -> None:
    """Held back: days 30-39. A re-bought every 10 days, B every 40, C every 20 (p6 herself every 4).

    Gaps 4,4 10,10,10,10 20,20,20 40,40,40: the fixed interval is their median, 15 days.
    Re-purchases in the held-back days: p1 A, p5 B, p6 C, p7 C.
    fixed (15 d): due p1 A (35), p6 C (37)               -> precision 2/2, recall 2/4
    product:      due p1 A, p2 A, p5 B (35), p7 C (30)   -> precision 3/4, recall 3/4
    person:       + p6 C by her own (2*4 + 2*20)/4 = 12 d -> precision 4/5, recall 4/4
    """
    from training.eval_replenishment import evaluate_replenishment

    plan = {
        ("p1", "A"): [0, 10, 20, 32],
        ("p2", "A"): [5, 15, 25],
        ("p3", "B"): [-80, -40, 0],
        ("p4", "B"): [-70, -30],
        ("p5", "B"): [-5, 36],
        ("p6", "C"): [14, 18, 22, 33],
        ("p7", "C"): [-10, 10, 39],
        ("p8", "C"): [-15, 5],
        ("p9", "C"): [-20, 0],
    }
    start = pd.Timestamp("2026-03-01", tz="UTC")
    purchases = pd.DataFrame(
        [(c, s, start + d * DAY) for (c, s), days in plan.items() for d in days],
        columns=["customer_id", "sku", "timestamp"],
    )
    result = evaluate_replenishment(purchases, holdout_days=10, min_repeaters=2, n_boot=20)
    assert result["cutoff"] == (start + 30 * DAY).isoformat()
    assert (result["candidate_pairs"], result["repurchased_pairs"], result["repeat_items"]) == (9, 4, 3)
    assert result["fixed_interval_days"] == 15.0 and result["pairs_with_person_cycle"] == 4
    got = {
        name: (m["predicted_due"], m["repurchased_and_due"], m["precision"], m["recall"])
        for name, m in result["methods"].items()
    }
    assert got == {
        "fixed": (2, 2, 1.0, 0.5),
        "product": (4, 3, 0.75, 0.75),
        "person": (5, 4, 0.8, 1.0),
    }


def test_the_benchmark_runs_on_an_import_format_directory(world: dict[str, Path], tmp_path: Path) -> None:
    """``benchmarks/bench_replenishment.py`` end to end on the planted --data (identities resolved:
    ann's POS receipts and online orders are one person)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import bench_replenishment

    result = bench_replenishment.main(["--data", str(world["data"]), "--out", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text())["methods"].keys() == {"fixed", "product", "person"}
    assert result["repeat_items"] == 2  # C01 and C02 (5+ repeat buyers each before the held-back weeks)
