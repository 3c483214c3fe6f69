"""``omnirank eval-recs``: every recommender on a temporal split of someone's real transactions.

Train on the first part of the time span, test on users active on both sides, truth = the
distinct items they bought after the cutoff. The ``omnirank`` blend gets its weights from a
validation split carved out of the training period only, so the test period never tunes anything.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.config import Settings
from models.errors import InputError, InputNotFound
from models.recommenders import BlendRecommender, Recommender, build_recommender
from models.recommenders.evaluate import (
    MODES,
    EvalSplit,
    bootstrap_ci,
    bootstrap_indices,
    make_eval_split,
    per_user_metrics,
)
from models.recommenders.interactions import build_interactions, temporal_split, type_weights_from_settings
from models.recommenders.ranker import RANKER_KINDS, PurchaseHistory, RankerRecommender
from training.recs_ranker import new_ranker, objective, ranker_against_blend

BASELINES = ("popularity", "repeat_buy", "item_knn", "als", "bpr", "ease")
BLEND_COMPONENTS = ("repeat_buy", "popularity", "item_knn", "als", "bpr", "ease")
BLEND_NAME = "omnirank"
REQUIRED = ("user_id", "item_id", "timestamp")
GUEST_PREFIX = "guest:"


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV or Parquet by suffix, with a clear error for a missing or unsupported file."""
    p = Path(path)
    if not p.exists():
        raise InputNotFound(f"file not found: {p}")
    if p.suffix not in (".parquet", ".csv", ".gz"):
        raise InputError(f"{p}: expected a .csv or .parquet file")
    try:
        if p.suffix == ".parquet":
            return pd.read_parquet(p)
        return pd.read_csv(p, dtype={"user_id": str, "item_id": str, "basket_id": str})
    except ValueError as exc:  # a malformed file (pandas' and pyarrow's parse errors are ValueErrors)
        raise InputError(f"cannot read {p}: {exc}") from exc


def to_events(interactions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """eval-recs columns -> event columns (user, item, type, timestamp, channel, quantity).

    Lines without a user (guest checkouts) become one pseudo-user per basket: they still teach
    item-item co-purchase and popularity but are never test users.
    """
    missing = [c for c in REQUIRED if c not in interactions.columns]
    if missing:
        raise InputError(
            f"interactions lack required column(s) {missing}; need {list(REQUIRED)} "
            f"(optional: quantity, basket_id, channel, type); got {list(interactions.columns)}"
        )
    notes: list[str] = []
    df = interactions
    user = df["user_id"].astype("string").str.strip().replace("", pd.NA)
    guest = user.isna()
    if guest.any():
        if "basket_id" in df.columns:
            user = user.fillna(GUEST_PREFIX + df["basket_id"].astype(str))
            notes.append(f"{int(guest.sum())} guest lines kept as per-basket pseudo-users (training only)")
        else:
            notes.append(f"{int(guest.sum())} lines without user_id and basket_id dropped")
    ts = pd.to_datetime(df["timestamp"], utc=True, format="mixed", errors="coerce")
    bad_ts = ts.isna() & df["timestamp"].notna()
    if bad_ts.any():
        raise InputError(
            f"{int(bad_ts.sum())} unparseable timestamps, e.g. {df.loc[bad_ts, 'timestamp'].iloc[0]!r}"
        )
    events = pd.DataFrame(
        {
            "user": user.astype(object).to_numpy(),
            "item": df["item_id"].astype(str).to_numpy(),
            "type": df["type"].to_numpy() if "type" in df.columns else "purchase",
            "timestamp": ts.to_numpy(),
            "channel": df["channel"].to_numpy() if "channel" in df.columns else "web",
            "quantity": df["quantity"].to_numpy() if "quantity" in df.columns else 1,
            "price": pd.to_numeric(df["price"], errors="coerce").to_numpy()
            if "price" in df.columns
            else np.nan,
        }
    )
    events = events[events["user"].notna() & events["timestamp"].notna()]
    if events.empty:
        raise InputError("no usable interactions (every line lacks a user/basket or a timestamp)")
    return events, notes


def _split(
    events: pd.DataFrame, fraction: float, item_ids: np.ndarray, settings: Settings
) -> tuple[EvalSplit, pd.Timestamp]:
    train_ev, test_ev, cutoff = temporal_split(events, fraction=fraction)
    train = build_interactions(
        train_ev,
        type_weights_from_settings(settings),
        half_life_days=settings.half_life_days,
        now=cutoff,
        item_ids=item_ids,
    )
    users = train.user_ids[~pd.Series(train.user_ids).str.startswith(GUEST_PREFIX).to_numpy()]
    return make_eval_split(train, test_ev, eligible_users=users), cutoff


def _fit_all(user_items, settings: Settings, names: tuple[str, ...]) -> dict[str, Recommender]:
    from tqdm.auto import tqdm

    models: dict[str, Recommender] = {}
    for name in tqdm(names, desc="fitting recommenders", disable=None):
        models[name] = build_recommender(name, settings).fit(user_items)
    return models


def _ranker_models(
    val_models: dict[str, Recommender],
    val_split: EvalSplit,
    val_history: PurchaseHistory,
    weights: dict[str, dict[str, float]],
    settings: Settings,
    k: int,
) -> tuple[dict[str, RankerRecommender | None], dict[str, Any]]:
    """Per mode: LightGBM LambdaMART and HistGradientBoosting (pointwise) trained on 70% of the
    validation customers, compared with the blend on the other 30%; the better ranker is kept
    (refitted on every validation customer) only when it beats the blend there
    (``training/recs_ranker.py``, the procedure ``omnirank train`` uses too)."""
    chosen: dict[str, RankerRecommender | None] = {}
    report: dict[str, Any] = {}
    for mode in MODES:
        chosen[mode], report[mode] = ranker_against_blend(
            val_models,
            BLEND_COMPONENTS,
            weights[mode],
            val_split.train.matrix,
            val_split.userids[mode],
            val_split.truth[mode],
            val_history,
            settings,
            k,
            kinds=RANKER_KINDS,
            filter_already_liked_items=mode == "new",
        )
    return chosen, report


def _objective(metrics: dict[str, float], k: int) -> float:
    return objective(metrics, k)


def _new_ranker(kind: str, weights: dict[str, float], settings: Settings) -> RankerRecommender:
    return new_ranker(kind, BLEND_COMPONENTS, weights, settings)


def _segments(split: EvalSplit, train_ev: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Boolean masks over each mode's test users: new vs returning (one vs several earlier purchase
    days), store-only / online-only / both, heavy vs light (distinct items above the median)."""
    buys = train_ev[train_ev["type"] == "purchase"]
    users = pd.Index(split.train.user_ids.astype(str))
    u = users.get_indexer(buys["user"].astype(str).to_numpy())
    ok = u >= 0
    day = pd.to_datetime(buys["timestamp"], utc=True).dt.floor("D").to_numpy()[ok]
    frame = pd.DataFrame(
        {"u": u[ok], "d": day, "store": buys["channel"].astype(str).to_numpy()[ok] == "store"}
    )
    n = len(users)
    days = np.bincount(frame.drop_duplicates(["u", "d"])["u"], minlength=n)
    store = np.bincount(frame["u"], weights=frame["store"].astype(float), minlength=n)
    lines = np.bincount(frame["u"], minlength=n)
    distinct = np.diff(split.train.matrix.indptr)
    out: dict[str, dict[str, np.ndarray]] = {}
    for mode in MODES:
        ids = split.userids[mode]
        heavy_cut = float(np.median(distinct[ids])) if len(ids) else 0.0
        out[mode] = {
            "new customers (1 earlier purchase day)": days[ids] <= 1,
            "returning customers": days[ids] > 1,
            "store-only buyers": (lines[ids] > 0) & (store[ids] == lines[ids]),
            "online-only buyers": store[ids] == 0,
            "both channels": (store[ids] > 0) & (store[ids] < lines[ids]),
            f"heavy (> {heavy_cut:g} items)": distinct[ids] > heavy_cut,
            f"light (<= {heavy_cut:g} items)": distinct[ids] <= heavy_cut,
        }
    return out


def run_eval_recs(
    interactions: pd.DataFrame,
    settings: Settings,
    split: float = 0.8,
    k: int = 20,
    catalog: pd.DataFrame | None = None,
    notes: list[str] | None = None,
    ranker: bool = True,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Fit, tune and score every recommender; returns the JSON-ready result."""
    started = time.perf_counter()
    events, event_notes = to_events(interactions)
    notes = list(notes or []) + event_notes
    item_ids = np.unique(events["item"].to_numpy().astype(str))
    if catalog is not None:
        col = "item_id" if "item_id" in catalog.columns else "sku" if "sku" in catalog.columns else None
        if col is None:
            raise InputError(f"--items needs an item_id (or sku) column; got {list(catalog.columns)}")
        item_ids = np.union1d(item_ids, catalog[col].astype(str).to_numpy())

    test_split, cutoff = _split(events, split, item_ids, settings)
    if len(test_split.test_userids) == 0:
        raise InputError("no test users: nobody has interactions on both sides of the split")
    ts = pd.to_datetime(events["timestamp"], utc=True)
    train_ev = events[ts < cutoff]
    val_split, val_cutoff = _split(train_ev, split, item_ids, settings)
    inner_ev = train_ev[pd.to_datetime(train_ev["timestamp"], utc=True) < val_cutoff]
    notes += test_split.notes
    notes.append(
        f"split at {cutoff.isoformat()} ({split:.0%} of the time span); blend weights and the ranker are "
        f"learned per mode on a validation split at {val_cutoff.isoformat()} inside the training period"
    )

    names = tuple(dict.fromkeys(BASELINES + BLEND_COMPONENTS))
    val_models = _fit_all(val_split.train.matrix, settings, names)
    weights: dict[str, dict[str, float]] = {}
    for mode in MODES:
        blend = BlendRecommender(BLEND_COMPONENTS).use_fitted(val_models)
        if len(val_split.userids[mode]):
            blend.fit_weights(
                val_split.userids[mode],
                val_split.train.matrix[val_split.userids[mode]],
                val_split.truth[mode],
                k=k,
                filter_already_liked_items=mode == "new",
                seed=settings.random_seed,
            )
        weights[mode] = blend.weights
    rankers: dict[str, RankerRecommender | None] = {m: None for m in MODES}
    ranker_report: dict[str, Any] = {"enabled": ranker}
    if ranker:
        t0 = time.perf_counter()
        category = _item_categories(catalog, item_ids)
        val_history = PurchaseHistory.build(
            inner_ev, val_split.train.user_ids, item_ids, val_cutoff, category
        )
        rankers, ranker_report = _ranker_models(val_models, val_split, val_history, weights, settings, k)
        ranker_report["seconds"] = round(time.perf_counter() - t0, 1)

    models = _fit_all(test_split.train.matrix, settings, names)
    for name, model in models.items():
        why = getattr(model, "restricted_", None)
        if why:
            notes.append(f"{name}: {why}")
    test_history = (
        PurchaseHistory.build(
            train_ev, test_split.train.user_ids, item_ids, cutoff, _item_categories(catalog, item_ids)
        )
        if ranker
        else None
    )
    results: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODES}
    per_user: dict[str, dict[str, dict[str, np.ndarray]]] = {m: {} for m in MODES}
    for mode in MODES:
        users, truth = test_split.userids[mode], test_split.truth[mode]
        flt = mode == "new"
        contenders: dict[str, Recommender] = dict(models)
        contenders["blend"] = BlendRecommender(BLEND_COMPONENTS, weights=weights[mode]).use_fitted(models)
        trained = rankers.get(mode)
        if trained is not None:
            on_test = (
                _new_ranker(trained.kind, weights[mode], settings)
                .use_fitted(models)
                .use_history(test_history)
            )
            on_test.booster_ = trained.booster_
            contenders["ranker"] = on_test
        for name, model in contenders.items():
            values, coverage = per_user_metrics(model, test_split.train.matrix, users, truth, k, flt)
            per_user[mode][name] = values
            results[mode][name] = {
                **{m: float(v.mean()) if len(v) else 0.0 for m, v in values.items()},
                "coverage": coverage,
                "n_users": int(len(users)),
            }
        served = "ranker" if "ranker" in contenders else "blend"
        per_user[mode][BLEND_NAME] = per_user[mode][served]
        results[mode][BLEND_NAME] = {**results[mode][served], "served": served}

    confidence = _confidence(results, per_user, k, n_boot, settings.random_seed)
    segments = _segment_table(_segments(test_split, train_ev), per_user, k)
    return {
        "modes": results,
        "confidence": confidence,
        "segments": segments,
        "ranker": ranker_report,
        "n_users_test": int(len(test_split.test_userids)),
        "n_users_test_new": int(len(test_split.userids["new"])),
        "n_users_train": int(test_split.train.matrix.shape[0]),
        "n_items": int(len(item_ids)),
        "k": k,
        "blend_weights": weights,
        "seconds": round(time.perf_counter() - started, 1),
        "notes": notes,
    }


SINGLE_MODELS = BASELINES


def _confidence(results, per_user, k: int, n_boot: int, seed: int) -> dict[str, Any]:
    """Bootstrap 95% intervals over test users for every row, and for the served ranking against
    the best single model (by the mean of Recall and NDCG): their difference, same resamples."""
    out: dict[str, Any] = {}
    for mode, rows in per_user.items():
        n = len(next(iter(rows.values()))[f"recall@{k}"]) if rows else 0
        draws = bootstrap_indices(n, n_boot, seed)
        ci = {name: {m: bootstrap_ci(v, draws) for m, v in values.items()} for name, values in rows.items()}
        singles = [s for s in SINGLE_MODELS if s in results[mode]]
        best = max(singles, key=lambda s: _objective(results[mode][s], k)) if singles else None
        vs: dict[str, Any] = {"best_single": best}
        if best is not None and n:
            for m in (f"recall@{k}", f"ndcg@{k}"):
                served, single = rows[BLEND_NAME][m], rows[best][m]
                vs[m] = {
                    "served": float(served.mean()),
                    "best_single": float(single.mean()),
                    "ratio": float(served.mean() / single.mean()) if single.mean() > 0 else None,
                    "difference_ci": bootstrap_ci(served - single, draws),
                    "served_ci": ci[BLEND_NAME][m],
                }
        out[mode] = {"intervals": ci, "served_vs_best_single": vs, "n_boot": n_boot}
    return out


def _segment_table(masks, per_user, k: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for mode, segs in masks.items():
        rows = per_user[mode]
        table[mode] = {}
        for label, mask in segs.items():
            if not mask.any():
                continue
            table[mode][label] = {"n_users": int(mask.sum())} | {
                name: {m: round(float(v[mask].mean()), 4) for m, v in rows[name].items()}
                for name in (BLEND_NAME, "blend", *SINGLE_MODELS)
                if name in rows
            }
    return table


def _item_categories(catalog: pd.DataFrame | None, item_ids: np.ndarray) -> np.ndarray | None:
    """Category code per item from ``--items`` (category, else top_category), when it has one."""
    if catalog is None:
        return None
    col = "item_id" if "item_id" in catalog.columns else "sku"
    for name in ("category", "top_category"):
        if name in catalog.columns:
            cats = catalog.drop_duplicates(col).set_index(catalog.drop_duplicates(col)[col].astype(str))[name]
            codes, _ = pd.factorize(cats.reindex(item_ids.astype(str)).fillna("?").astype(str))
            return codes.astype(np.int64)
    return None


def print_table(result: dict[str, Any]) -> None:
    """Recall/NDCG/coverage per model and mode as a rich table."""
    from rich.console import Console
    from rich.table import Table

    k = result["k"]
    table = Table(title=f"eval-recs: {result['n_users_test']} test users, {result['n_items']} items")
    table.add_column("model", no_wrap=True)
    for mode in MODES:
        for metric in (f"recall@{k}", f"ndcg@{k}", "coverage"):
            table.add_column(f"{mode} {metric}", justify="right", no_wrap=True)
    names = list(dict.fromkeys(n for mode in MODES for n in result["modes"][mode]))
    intervals = {mode: result.get("confidence", {}).get(mode, {}).get("intervals", {}) for mode in MODES}
    for name in names:
        row = [name]
        for mode in MODES:
            m = result["modes"][mode].get(name)
            if m is None:
                row += ["-", "-", "-"]
                continue
            ci = intervals[mode].get(name, {})
            cells = []
            for metric in (f"recall@{k}", f"ndcg@{k}"):
                lo_hi = ci.get(metric)
                cells.append(f"{m[metric]:.4f}" + (f" [{lo_hi[0]:.4f}, {lo_hi[1]:.4f}]" if lo_hi else ""))
            row += [*cells, f"{m['coverage']:.3f}"]
        if name == BLEND_NAME:
            row[0] = f"{name} (served: {result['modes']['all'][name].get('served', 'blend')} / " + (
                f"{result['modes']['new'][name].get('served', 'blend')})"
            )
        table.add_row(*row, style="bold" if name == BLEND_NAME else None)
    console = Console()
    console.print(table)
    for mode in MODES:
        vs = result.get("confidence", {}).get(mode, {}).get("served_vs_best_single", {})
        for metric in (f"recall@{k}", f"ndcg@{k}"):
            if metric in vs and vs[metric]["ratio"] is not None:
                d = vs[metric]
                console.print(
                    f"- {mode} {metric}: served {d['served']:.4f} vs best single ({vs['best_single']}) "
                    f"{d['best_single']:.4f}: x{d['ratio']:.3f}, difference 95% CI "
                    f"[{d['difference_ci'][0]:+.4f}, {d['difference_ci'][1]:+.4f}]"
                )
    for mode, segs in result.get("segments", {}).items():
        for label, row in segs.items():
            served = row.get(BLEND_NAME, {})
            console.print(
                f"- segment {mode} / {label} ({row['n_users']} users): served recall@{k} "
                f"{served.get(f'recall@{k}', 0):.4f}, ndcg@{k} {served.get(f'ndcg@{k}', 0):.4f}"
            )
    for note in result["notes"]:
        if not note.startswith("online retail adapter"):  # already printed in full
            console.print(f"- {note}")


def eval_recs_command(
    settings: Settings,
    interactions_path: Path | None,
    online_retail_path: Path | None,
    items_path: Path | None,
    out: Path | None,
    split: float,
    k: int,
    instacart_path: Path | None = None,
    ranker: bool = True,
) -> dict[str, Any]:
    """What the CLI runs: load (or adapt Online Retail), evaluate, print, write JSON."""
    if sum(p is not None for p in (interactions_path, online_retail_path, instacart_path)) != 1:
        raise InputError("give exactly one of --interactions, --online-retail or --instacart")
    notes: list[str] = []
    if online_retail_path is not None:
        from rich import print as rprint

        from training.adapters.online_retail import online_retail_to_interactions, read_online_retail

        interactions, report = online_retail_to_interactions(read_online_retail(online_retail_path))
        rprint({"online_retail_adapter": report})
        notes.append("online retail adapter: " + json.dumps(report))
    elif instacart_path is not None:
        from training.adapters.instacart import instacart_to_interactions, read_instacart

        interactions, report = instacart_to_interactions(read_instacart(instacart_path))
        notes.append("instacart adapter: " + json.dumps(report))
    else:
        interactions = read_table(interactions_path)
    catalog = read_table(items_path) if items_path is not None else None
    result = run_eval_recs(
        interactions, settings, split=split, k=k, catalog=catalog, notes=notes, ranker=ranker
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    print_table(result)
    return result
