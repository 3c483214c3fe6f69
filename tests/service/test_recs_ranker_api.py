"""Customer recommendations over HTTP ordered by the learned ranker (issue 22).

The sample bundle is republished twice, its files unchanged: once as it is (the blend serves) and
once with a ``recs_ranker`` component learned on a planted population over its catalog: 300
shoppers who each re-buy two consumables on their purchase cycles (the bundle's own learned cycles)
and buy three durables once. A new shopper then posts their till receipts live: a consumable bought
three times, the last exactly one cycle ago (due now), another bought yesterday, a durable bought
yesterday. With the ranker the due consumable is first (with the restock reason); with the blend it
is only pinned lower; the durable bought yesterday is in neither list.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import artifacts as A
from models.bundle import RECS_RANKER, Bundle, BundleWriter, resolve_bundle_path
from models.catalog import Catalog
from models.config import Settings
from models.recommend import RecommendationEngine
from models.recommenders.evaluate import make_eval_split
from models.recommenders.interactions import build_interactions
from models.recommenders.ranker import PurchaseHistory, RankerRecommender
from models.recs_ranker import ServedRanker
from training.stages.recs_ranker import item_categories

N_SHOPPERS = 300


def _planted(engine: RecommendationEngine, now: pd.Timestamp) -> tuple[list[int], list[int], pd.DataFrame]:
    """(consumables, durables, purchases of the planted population) over the bundle's catalog."""
    catalog = engine.catalog
    n = engine.n_trained
    web = catalog.available("web")[:n]
    cycles = engine.cycle_days[:n]
    category = catalog.column["category"][:n]
    consumables: list[int] = []
    for i in np.flatnonzero(web & np.isfinite(cycles) & (cycles >= 10) & (cycles <= 40)).tolist():
        if category[i] not in {category[c] for c in consumables}:  # six kinds of consumable
            consumables.append(i)
        if len(consumables) == 6:
            break
    durables = np.flatnonzero(web & engine.durable[:n])[:30].tolist()
    assert len(consumables) == 6 and len(durables) == 30
    rng = np.random.default_rng(22)
    rows = []
    for u in range(N_SHOPPERS):
        for c in (consumables[u % 6], consumables[(u + 2) % 6]):
            cycle = float(cycles[c])
            t = now - pd.Timedelta(days=float(rng.uniform(0, cycle)))
            while t > now - pd.Timedelta(days=200):
                rows.append((f"p{u}", c, t))
                t -= pd.Timedelta(days=cycle)
        for d in rng.choice(durables, 3, replace=False).tolist():
            rows.append((f"p{u}", d, now - pd.Timedelta(days=float(rng.uniform(1, 200)))))
    frame = pd.DataFrame(rows, columns=["user", "i", "timestamp"])
    frame["item"] = catalog.skus[frame["i"].to_numpy()].astype(str)
    frame["type"] = "purchase"
    frame["channel"] = "store"
    frame["price"] = 10.0
    return consumables, durables, frame.drop(columns="i")


def _learned_ranker(engine: RecommendationEngine, events: pd.DataFrame, now: pd.Timestamp) -> ServedRanker:
    """Learned as training learns it: the window's next purchases after 30 days before ``now``,
    the bundle's fitted blend components proposing and scoring (the shoppers folded in)."""
    skus = engine.catalog.skus[: engine.n_trained].astype(str)
    categories = item_categories(engine.catalog)[: engine.n_trained]
    cut = now - pd.Timedelta(days=30)
    before = events[events["timestamp"] < cut]
    window = events[(events["timestamp"] >= cut) & (events["timestamp"] < cut + pd.Timedelta(days=14))]
    inner = build_interactions(before, {"purchase": 4.0}, half_life_days=60.0, now=cut, item_ids=skus)
    split = make_eval_split(inner, window)
    users = split.userids["all"]
    blend = engine.model
    ranker = RankerRecommender(
        blend.components, weights=blend.weights, n_estimators=80, min_child_samples=20, random_state=3
    )
    ranker.use_fitted(blend.models_).use_history(
        PurchaseHistory.build(before, inner.user_ids, skus, cut, categories)
    )
    info = ranker.fit_ranker(
        np.full(len(users), -1), inner.matrix[users], split.truth["all"], history_rows=users
    )
    assert info["train_users"] > 100, info
    latest = PurchaseHistory.build(events, inner.user_ids, skus, now, categories)
    return ServedRanker.from_ranker(ranker, latest, {"kept": True, "why": "planted population"})


def _republish(source: Path, bundles: Path, ranker: ServedRanker | None) -> Path:
    """The source bundle's files in a new bundles dir, with ``ranker`` as its ``recs_ranker``."""
    base = Bundle.open(source)
    with BundleWriter(bundles) as out:
        for relative in base.manifest["files"]:
            if not relative.startswith(A.RECS_RANKER_DIR + "/"):
                shutil.copyfile(source / relative, out.file(relative))
        components = sorted(base.components - {RECS_RANKER})
        if ranker is not None:
            ranker.save(out.file(A.RECS_RANKER_DIR + "/x").parent)
            components.append(RECS_RANKER)
        extra = {k: base.manifest[k] for k in ("catalog_size", "stores") if k in base.manifest}
        out.publish(
            data_fingerprint=base.manifest["data_fingerprint"],
            parameters=base.parameters,
            metrics={**base.metrics, "recs_ranker": ranker.decision if ranker else {"kept": False}},
            extra=extra,
            components=components,
        )
    return bundles


@pytest.fixture(scope="module")
def planted(trained_bundle: Path, service_now: datetime, tmp_path_factory: pytest.TempPathFactory) -> dict:
    source = resolve_bundle_path(trained_bundle)
    engine = RecommendationEngine.load(source, Catalog.load(source / A.CATALOG_DIR), Settings())
    now = pd.Timestamp(service_now)
    consumables, durables, events = _planted(engine, now)
    root = tmp_path_factory.mktemp("recs_ranker_api")
    return {
        "ranked": _republish(source, root / "ranked", _learned_ranker(engine, events, now)),
        "blend": _republish(source, root / "blend", None),
        "engine": engine,
        "consumables": consumables,
        "durables": durables,
    }


@pytest.fixture(scope="module")
def client_over(service_settings, service_now: datetime, tmp_path_factory: pytest.TempPathFactory):
    import contextlib

    from fastapi.testclient import TestClient

    from models.clock import fixed_clock
    from service.app import create_app

    @contextlib.contextmanager
    def make(bundles: Path):
        state = tmp_path_factory.mktemp("recs_ranker_state")
        settings = service_settings.model_copy(
            update={
                "bundles_dir": bundles,
                "event_store_path": state / "live.sqlite3",
                "rules_path": state / "rules.json",
                "reload_poll_seconds": 0,
            }
        )
        with TestClient(create_app(settings, clock=fixed_clock(service_now))) as test_client:
            yield test_client

    return make


def _receipts(planted: dict, now: pd.Timestamp) -> tuple[str, list[dict], dict[str, str]]:
    """A new loyalty shopper's till receipts: the due consumable, the fresh one, the durable."""
    engine = planted["engine"]
    due, fresh = planted["consumables"][0], planted["consumables"][1]
    durable = planted["durables"][0]
    cycle_due, cycle_fresh = float(engine.cycle_days[due]), float(engine.cycle_days[fresh])
    sku = {
        name: str(engine.catalog.skus[i])
        for name, i in (("due", due), ("fresh", fresh), ("durable", durable))
    }
    loyalty = "LY" + uuid.uuid4().hex[:9].upper()
    when = [("due", now - pd.Timedelta(days=n * cycle_due)) for n in (3, 2, 1)]
    when += [("fresh", now - pd.Timedelta(days=1 + n * cycle_fresh)) for n in (2, 1, 0)]
    when += [("durable", now - pd.Timedelta(days=1))]
    events = [
        {
            "event_id": uuid.uuid4().hex,
            "type": "purchase",
            "timestamp": t.isoformat(),
            "channel": "store",
            "store_id": "ST-NYC",
            "sku": sku[name],
            "loyalty_id": loyalty,
            "quantity": 1,
            "price": 10.0,
        }
        for name, t in when
    ]
    return loyalty, events, sku


def _list(client, planted: dict, now: pd.Timestamp) -> tuple[list[dict], dict[str, str], list[dict]]:
    """(their recommendations, their skus by role, the associate's offers on their profile)."""
    loyalty, events, sku = _receipts(planted, now)
    assert client.post("/v1/events", json={"events": events}).status_code == 202
    response = client.get(f"/v1/recommendations/customers/{loyalty}", params={"k": 10, "channel": "web"})
    assert response.status_code == 200, response.text
    profile = client.post("/v1/customers/lookup", json={"loyalty_id": loyalty, "k": 10})
    assert profile.status_code == 200, profile.text
    return response.json()["items"], sku, profile.json()["offers"]


def test_the_ranker_puts_the_due_consumable_first_and_the_durable_nowhere(
    planted: dict, client_over, service_now: datetime
) -> None:
    now = pd.Timestamp(service_now)
    with client_over(planted["ranked"]) as client:
        assert client.app.state.serving.current().recs.ranker is not None  # the component is served
        items, sku, offers = _list(client, planted, now)
    skus = [i["product"]["sku"] for i in items]
    assert skus[0] == sku["due"], skus
    # the associate's offers on the profile come from the same engine call
    assert offers[0]["product"]["sku"] == sku["due"] and offers[0]["reason_code"] == "replenish"
    assert sku["durable"] not in [o["product"]["sku"] for o in offers]
    assert items[0]["reason_code"] == "replenish"
    assert items[0]["reason"].startswith("Time to restock ")
    assert sku["durable"] not in skus and sku["fresh"] not in skus
    assert len(skus) == 10 and len(set(skus)) == 10
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)


def test_the_blend_only_pins_the_due_consumable_below_the_top(
    planted: dict, client_over, service_now: datetime
) -> None:
    now = pd.Timestamp(service_now)
    with client_over(planted["blend"]) as client:
        assert client.app.state.serving.current().recs.ranker is None
        items, sku, offers = _list(client, planted, now)
    skus = [i["product"]["sku"] for i in items]
    assert offers[0]["product"]["sku"] != sku["due"]
    assert sku["due"] in skus[1:] and sku["durable"] not in skus and sku["fresh"] not in skus


def test_one_pass_first_stage_equals_the_components_own_calls(planted: dict) -> None:
    """The service takes each component's candidates and scores from one dense score vector
    (``ServedRanker.first_stage``); the same lists as the components' own two-stage calls that
    training uses, for the sample's customers with their trained history."""
    from models.history import load_history
    from models.recommenders.interactions import type_weights_from_settings
    from models.recs_ranker import CustomerPurchases

    engine = planted["engine"]
    bundle = Bundle.open(planted["ranked"])
    ranker = ServedRanker.load(bundle.path / A.RECS_RANKER_DIR)
    history = load_history(bundle.path / A.HISTORY)
    weights = type_weights_from_settings(Settings())
    now = pd.Timestamp("2026-10-01T12:00:00Z")
    allowed = np.flatnonzero(engine.catalog.available("web")[: engine.n_trained])
    checked = 0
    for customer in sorted(history)[:40]:
        row = engine.history_row(customer, [], weights)
        purchases = CustomerPurchases.from_history(history[customer], engine.n_trained)
        fast = ranker.rank(engine.model.models_, row, purchases, now, allowed, 50)
        slow = ranker.rank(engine.model.models_, row, purchases, now, allowed, 50, one_pass=False)
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-4, atol=1e-5)
        checked += row.nnz > 0
    assert checked >= 30
