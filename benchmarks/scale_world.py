"""A 1M-customer x 100k-item world with the real blended recommender fitted on it, for the
recommendation and batch benchmarks.

Interactions are synthetic but shaped like retail: every item belongs to one of ``topics`` latent
tastes and has a log-normal popularity; a customer has a primary and a secondary taste, a
geometric number of events (mean ``events_per_user``), each a view / add-to-cart / purchase
(confidence 1 / 2 / 4) of an item drawn from their tastes or from the global bestsellers. On that
matrix the blend's real components are fitted with the pipeline's own classes and settings
(popularity, repeat-buy, item-kNN, implicit ALS); EASE is left out as the pipeline leaves it out
above ``ease_max_items``. Blend weights are the caller's (the benchmarks pass the sample bundle's
tuned weights), else 1.0. Co-purchase comes from synthetic baskets drawn the same way, trending from a
sample of the events.

Fitting takes minutes on 2 cores, so the fitted world is cached under ``var/cache/bench`` keyed by
its parameters; ``load_world`` builds it in a child process first, so the caller's peak RSS
measures serving or scoring, not fitting.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from common import CACHE, console, generated_products

from models.catalog import Catalog
from models.config import Settings
from models.copurchase import CoPurchase
from models.recommend import RecommendationEngine
from models.recommenders.base import Recommender
from models.recommenders.blend import BlendRecommender
from models.recommenders.registry import build_recommender
from models.trending import Trending

COMPONENTS = ("repeat_buy", "popularity", "item_knn", "als")
TYPE_WEIGHTS = {"view": 1.0, "add_to_cart": 2.0, "purchase": 4.0}
TYPE_P = (0.7, 0.15, 0.15)


@dataclass(frozen=True)
class WorldSpec:
    users: int = 1_000_000
    items: int = 100_000
    events_per_user: float = 15.0
    topics: int = 500
    seed: int = 11

    def key(self) -> str:
        payload = json.dumps({**self.__dict__, "v": 1}, sort_keys=True)
        return f"world-{self.users}x{self.items}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def draw_items(
    rng: np.random.Generator, topic: np.ndarray, item_topic: np.ndarray, popularity: np.ndarray
) -> np.ndarray:
    """One item per entry of ``topic``, popularity-weighted within the topic (-1: from all items).

    Items sorted by topic with a per-topic cumulative share laid end to end (topic t spans
    [t, t+1)) turn every draw into one ``searchsorted``.
    """
    order = np.argsort(item_topic, kind="stable")
    t_sorted, cum0 = item_topic[order], np.r_[0.0, np.cumsum(popularity[order])]
    starts = np.searchsorted(t_sorted, np.arange(item_topic.max() + 2))
    before, total = cum0[starts[:-1]], cum0[starts[1:]] - cum0[starts[:-1]]
    line = t_sorted + (cum0[1:] - before[t_sorted]) / total[t_sorted]  # topic t spans (t, t+1]
    topic = np.where((topic >= 0) & (total[np.maximum(topic, 0)] > 0), topic, -1)
    glob = np.cumsum(popularity) / popularity.sum()
    u = rng.random(len(topic))
    out = np.empty(len(topic), dtype=np.int64)
    local = topic >= 0
    pos = np.searchsorted(line, topic[local] + u[local] * (1 - 1e-9))
    out[local] = order[np.minimum(pos, len(order) - 1)]
    out[~local] = np.minimum(np.searchsorted(glob, u[~local]), len(popularity) - 1)
    return out


def synthetic_interactions(spec: WorldSpec) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """(users x items confidence matrix, item topic, item popularity)."""
    rng = np.random.default_rng(spec.seed)
    item_topic = rng.integers(0, spec.topics, spec.items)
    popularity = rng.lognormal(0.0, 1.3, spec.items)
    primary = rng.integers(0, spec.topics, spec.users)
    secondary = rng.integers(0, spec.topics, spec.users)
    counts = np.minimum(rng.geometric(1.0 / spec.events_per_user, spec.users), 200)
    indptr = np.r_[0, np.cumsum(counts)]
    rows_parts, cols_parts, vals_parts = [], [], []
    step = 100_000
    for start in range(0, spec.users, step):
        stop = min(start + step, spec.users)
        n = int(indptr[stop] - indptr[start])
        user = np.repeat(np.arange(start, stop), counts[start:stop])
        source = rng.choice(3, n, p=(0.6, 0.25, 0.15))
        topic = np.where(source == 0, primary[user], np.where(source == 1, secondary[user], -1))
        rows_parts.append(user)
        cols_parts.append(draw_items(rng, topic, item_topic, popularity))
        kinds = rng.choice(len(TYPE_P), n, p=TYPE_P)
        vals_parts.append(np.array(list(TYPE_WEIGHTS.values()), np.float32)[kinds])
    matrix = sp.csr_matrix(
        (np.concatenate(vals_parts), (np.concatenate(rows_parts), np.concatenate(cols_parts))),
        shape=(spec.users, spec.items),
    )
    matrix.sum_duplicates()
    return matrix, item_topic, popularity


def _baskets(
    rng: np.random.Generator, n: int, item_topic: np.ndarray, popularity: np.ndarray
) -> sp.csr_matrix:
    sizes = rng.integers(2, 6, n)
    rows = np.repeat(np.arange(n), sizes)
    topic = np.repeat(rng.integers(0, item_topic.max() + 1, n), sizes)
    cols = draw_items(rng, topic, item_topic, popularity)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, len(item_topic)))


def build_world(spec: WorldSpec, sample: pd.DataFrame, directory: Path) -> None:
    """Fit everything and save it under ``directory`` (written to a temp dir, renamed when done)."""
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    matrix, item_topic, popularity = synthetic_interactions(spec)
    timings["interactions_s"] = time.perf_counter() - t
    console.print(f"  {matrix.shape[0]:,} x {matrix.shape[1]:,}, {matrix.nnz:,} non-zeros")
    settings = Settings()
    models: dict[str, Recommender] = {}
    for name in COMPONENTS:
        t = time.perf_counter()
        models[name] = build_recommender(name, settings).fit(matrix)
        timings[f"fit_{name}_s"] = time.perf_counter() - t
        console.print(f"  fitted {name} in {timings[f'fit_{name}_s']:.0f} s")
    BlendRecommender(components=COMPONENTS).use_fitted(models).save(tmp / "blend")
    sp.save_npz(tmp / "user_items.npz", matrix, compressed=False)
    rng = np.random.default_rng(spec.seed + 1)
    CoPurchase().fit(_baskets(rng, 3 * spec.items, item_topic, popularity)).save(tmp / "copurchase")
    products, _ = generated_products(sample, np.zeros(len(sample)), spec.items, seed=spec.seed)
    products = products.drop(columns=["popularity"])
    for ch in ("store", "web", "app", "marketplace"):
        products[f"available_{ch}"] = rng.random(spec.items) < 0.95
    products.to_parquet(tmp / "products.parquet", index=False)
    (tmp / "timings.json").write_text(json.dumps({**timings, "nnz": int(matrix.nnz)}))
    tmp.rename(directory)


@dataclass
class World:
    spec: WorldSpec
    engine: RecommendationEngine
    user_items: sp.csr_matrix
    timings: dict


def load_world(
    spec: WorldSpec, sample: pd.DataFrame, weights: dict[str, float] | None = None, cache: Path = CACHE
) -> World:
    """The cached world, built first (in a child process) when missing."""
    directory = cache / spec.key()
    if not directory.exists():
        console.print(f"[cyan]▶ building {directory.name} (cached afterwards)[/]")
        ctx = mp.get_context("spawn")
        proc = ctx.Process(target=build_world, args=(spec, sample, directory))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or not directory.exists():
            raise RuntimeError(f"building the scale world failed (exit {proc.exitcode})")
    user_items = sp.load_npz(directory / "user_items.npz").tocsr()
    products = pd.read_parquet(directory / "products.parquet")
    catalog = Catalog(products, [], np.zeros((0, spec.items), dtype=np.int32))
    rng = np.random.default_rng(spec.seed + 2)
    n_ev = 200_000
    trending = Trending().fit(
        pd.DataFrame(
            {
                "item": user_items.indices[rng.integers(0, user_items.nnz, n_ev)],
                "timestamp": pd.Timestamp("2026-09-01", tz="UTC")
                + pd.to_timedelta(rng.integers(0, 30 * 86400, n_ev), unit="s"),
                "channel": rng.choice(["web", "app", "store", "email"], n_ev),
                "store_id": None,
                "weight": 1.0,
            }
        )
    )
    settings = Settings()
    blend = Recommender.load(directory / "blend")
    blend.weights = {c: float((weights or {}).get(c, 1.0)) for c in COMPONENTS}
    engine = RecommendationEngine(
        catalog=catalog,
        model=blend,
        user_items=user_items,
        user_index={},
        copurchase=CoPurchase.load(directory / "copurchase"),
        trending=trending,
        two_stage_min_cells=settings.recs_two_stage_min_cells,
        candidates_per_model=settings.recs_candidates_per_model,
    )
    return World(spec, engine, user_items, json.loads((directory / "timings.json").read_text()))
