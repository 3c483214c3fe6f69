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
from models.recommenders import BlendRecommender, Recommender, build_recommender, params_from_settings
from models.recommenders.evaluate import MODES, EvalSplit, evaluate_modes, make_eval_split
from models.recommenders.interactions import build_interactions, temporal_split, type_weights_from_settings

BASELINES = ("popularity", "repeat_buy", "item_knn", "als", "bpr", "ease")
BLEND_COMPONENTS = ("repeat_buy", "popularity", "item_knn", "als", "bpr", "ease")
BLEND_NAME = "omnirank"
REQUIRED = ("user_id", "item_id", "timestamp")
GUEST_PREFIX = "guest:"


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV or Parquet by suffix, with a clear error for a missing or unsupported file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"file not found: {p}")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix in (".csv", ".gz"):
        return pd.read_csv(p, dtype={"user_id": str, "item_id": str, "basket_id": str})
    raise ValueError(f"{p}: expected a .csv or .parquet file")


def to_events(interactions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """eval-recs columns -> event columns (user, item, type, timestamp, channel, quantity).

    Lines without a user (guest checkouts) become one pseudo-user per basket: they still teach
    item-item co-purchase and popularity but are never test users.
    """
    missing = [c for c in REQUIRED if c not in interactions.columns]
    if missing:
        raise ValueError(
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
        raise ValueError(
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
        }
    )
    events = events[events["user"].notna() & events["timestamp"].notna()]
    if events.empty:
        raise ValueError("no usable interactions (every line lacks a user/basket or a timestamp)")
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


def run_eval_recs(
    interactions: pd.DataFrame,
    settings: Settings,
    split: float = 0.8,
    k: int = 20,
    catalog: pd.DataFrame | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Fit, tune and score every recommender; returns the JSON-ready result."""
    started = time.time()
    events, event_notes = to_events(interactions)
    notes = list(notes or []) + event_notes
    item_ids = np.unique(events["item"].to_numpy().astype(str))
    if catalog is not None:
        col = "item_id" if "item_id" in catalog.columns else "sku" if "sku" in catalog.columns else None
        if col is None:
            raise ValueError(f"--items needs an item_id (or sku) column; got {list(catalog.columns)}")
        item_ids = np.union1d(item_ids, catalog[col].astype(str).to_numpy())

    test_split, cutoff = _split(events, split, item_ids, settings)
    if len(test_split.test_userids) == 0:
        raise ValueError("no test users: nobody has interactions on both sides of the split")
    train_ev = events[pd.to_datetime(events["timestamp"], utc=True) < cutoff]
    val_split, val_cutoff = _split(train_ev, split, item_ids, settings)
    notes += test_split.notes
    notes.append(
        f"split at {cutoff.isoformat()} ({split:.0%} of the time span); blend weights tuned per mode on a "
        f"validation split at {val_cutoff.isoformat()} inside the training period"
    )

    names = tuple(dict.fromkeys(BASELINES + BLEND_COMPONENTS))
    val_models = _fit_all(val_split.train.matrix, settings, names)
    weights: dict[str, dict[str, float]] = {}
    component_params = params_from_settings("blend", settings)["component_params"]
    for mode in MODES:
        blend = BlendRecommender(BLEND_COMPONENTS, component_params).use_fitted(val_models)
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

    models = _fit_all(test_split.train.matrix, settings, names)
    results: dict[str, dict[str, dict[str, float]]] = {m: {} for m in MODES}
    for name, model in models.items():
        for mode, metrics in evaluate_modes(model, test_split, k).items():
            results[mode][name] = metrics
    for mode in MODES:
        blend = BlendRecommender(BLEND_COMPONENTS, component_params, weights[mode]).use_fitted(models)
        results[mode][BLEND_NAME] = evaluate_modes(blend, test_split, k)[mode]
    return {
        "modes": results,
        "n_users_test": int(len(test_split.test_userids)),
        "n_users_test_new": int(len(test_split.userids["new"])),
        "n_users_train": int(test_split.train.matrix.shape[0]),
        "n_items": int(len(item_ids)),
        "k": k,
        "blend_weights": weights,
        "seconds": round(time.time() - started, 1),
        "notes": notes,
    }


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
    for name in result["modes"]["all"]:
        row = [name]
        for mode in MODES:
            m = result["modes"][mode][name]
            row += [f"{m[f'recall@{k}']:.4f}", f"{m[f'ndcg@{k}']:.4f}", f"{m['coverage']:.3f}"]
        table.add_row(*row, style="bold" if name == BLEND_NAME else None)
    console = Console()
    console.print(table)
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
) -> dict[str, Any]:
    """What the CLI runs: load (or adapt Online Retail), evaluate, print, write JSON."""
    if (interactions_path is None) == (online_retail_path is None):
        raise ValueError("give exactly one of --interactions or --online-retail")
    notes: list[str] = []
    if online_retail_path is not None:
        from rich import print as rprint

        from training.adapters.online_retail import online_retail_to_interactions, read_online_retail

        interactions, report = online_retail_to_interactions(read_online_retail(online_retail_path))
        rprint({"online_retail_adapter": report})
        notes.append("online retail adapter: " + json.dumps(report))
    else:
        interactions = read_table(interactions_path)
    catalog = read_table(items_path) if items_path is not None else None
    result = run_eval_recs(interactions, settings, split=split, k=k, catalog=catalog, notes=notes)
    print_table(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result
