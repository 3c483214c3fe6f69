"""Domain adaptation: fine-tune the bi-encoder on the retailer's own search logs.

A general-purpose encoder does not know that "tee" means t-shirt or which brand shoppers mean by a
colloquial name; the click log does. (query, clicked product) pairs train the encoder with
in-batch negatives (MultipleNegativesRankingLoss), and the result replaces the base model only if
it retrieves the clicked products of *held-out queries* better over the whole catalog. A fine-tune
that overfits a small log is thrown away, so turning the stage on can never make search worse on
the logged traffic.

The loop is hand-written around the sentence-transformers loss rather than
``SentenceTransformerTrainer``/``fit()``: in the installed sentence-transformers those require the
``datasets`` and ``accelerate`` packages (not dependencies of this project), and a plain loop makes
the wall-clock budget and the CPU thread count exact.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.console import Console
from tqdm.auto import tqdm

from models.catalog import Catalog
from models.config import Settings
from models.metrics import ndcg_at_k
from models.text import clean
from training.embed import product_texts
from training.encoder_export import load_sentence_transformer
from training.ingest import IngestResult

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

console = Console(stderr=True)

PURCHASE_WINDOW = pd.Timedelta(days=7)  # a purchase this long after the click still credits the search
PURCHASE_WEIGHT = 2  # a searched-then-bought pair is seen this many times per epoch
EVAL_K = 10
MIN_QUERIES = 5  # below this, neither training nor a held-out comparison means anything
METRIC_KEYS = ("pairs_train", "queries_val", "ndcg@10_base", "ndcg@10_finetuned", "kept", "seconds")


def query_key(query: object) -> str:
    """The form queries are grouped, split and encoded in; the encoder is uncased anyway."""
    return clean(query).casefold()


def search_pairs(
    events: pd.DataFrame, catalog: Catalog, window: pd.Timedelta = PURCHASE_WINDOW
) -> pd.DataFrame:
    """Distinct (query, sku) pairs of search clicks on catalog products, with click counts and
    whether the same session or customer bought the clicked product within ``window`` afterwards.
    """
    etype = events["type"].astype(str)
    clicks = events[(etype == "search_click") & events["query"].notna() & events["sku"].notna()]
    clicks = clicks.assign(query=clicks["query"].map(query_key), sku=clicks["sku"].astype(str))
    clicks = clicks[(clicks["query"] != "") & clicks["sku"].isin(set(catalog.sku_index))].reset_index(
        drop=True
    )
    bought = np.zeros(len(clicks), dtype=bool)
    purchases = events[etype == "purchase"]
    for key in ("session_id", "customer_id"):
        if key not in events.columns or clicks.empty:
            continue
        left = clicks[[key, "sku", "timestamp"]].assign(row=np.arange(len(clicks))).dropna(subset=[key])
        right = purchases[[key, "sku", "timestamp"]].dropna(subset=[key]).astype({"sku": str})
        joined = left.merge(right, on=[key, "sku"], suffixes=("", "_bought"))
        delay = pd.to_datetime(joined["timestamp_bought"], utc=True) - pd.to_datetime(
            joined["timestamp"], utc=True
        )
        bought[joined["row"].to_numpy()[((delay >= pd.Timedelta(0)) & (delay <= window)).to_numpy()]] = True
    clicks["purchased"] = bought
    return (
        clicks.groupby(["query", "sku"], sort=True)
        .agg(clicks=("sku", "size"), purchased=("purchased", "any"))
        .reset_index()
    )


def split_by_query(pairs: pd.DataFrame, val_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out whole queries, so validation measures generalisation to queries never trained on."""
    queries = np.array(sorted(pairs["query"].unique()), dtype=object)
    if len(queries) < MIN_QUERIES:
        raise ValueError(f"only {len(queries)} distinct search queries with clicks; need {MIN_QUERIES}")
    n_val = min(len(queries) - 1, max(1, round(val_share * len(queries))))
    val = set(np.random.default_rng(seed).permutation(queries)[:n_val])
    held = pairs["query"].isin(val)
    return pairs[~held].reset_index(drop=True), pairs[held].reset_index(drop=True)


def cap_pairs(pairs: pd.DataFrame, max_pairs: int, seed: int) -> pd.DataFrame:
    """Keep the most telling pairs: bought first, then the most clicked, ties broken at random."""
    tie = np.random.default_rng(seed).random(len(pairs))
    ranked = pairs.assign(_tie=tie).sort_values(
        ["purchased", "clicks", "_tie"], ascending=[False, False, True]
    )
    return ranked.head(max_pairs).drop(columns="_tie").reset_index(drop=True)


def no_duplicate_batches(
    queries: list[str], docs: list[str], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches in which no query and no product text appears twice: a duplicate would be
    scored as its own in-batch negative and push apart exactly what should be close.
    """
    pending = list(range(len(queries)))
    rng.shuffle(pending)
    batches: list[list[int]] = []
    while pending:
        batch: list[int] = []
        seen_q: set[str] = set()
        seen_d: set[str] = set()
        rest: list[int] = []
        for i in pending:
            if len(batch) < batch_size and queries[i] not in seen_q and docs[i] not in seen_d:
                batch.append(i)
                seen_q.add(queries[i])
                seen_d.add(docs[i])
            else:
                rest.append(i)
        if len(batch) < 2:  # nothing to contrast against; the leftovers are all duplicates
            break
        batches.append(batch)
        pending = rest
    return batches


def dense_ndcg(
    model: SentenceTransformer,
    catalog_vectors: np.ndarray,
    skus: np.ndarray,
    relevant: dict[str, set[str]],
    batch_size: int,
    k: int = EVAL_K,
) -> float:
    """Mean NDCG@k of exact dot-product retrieval over the whole catalog, gain 1 per clicked sku."""
    queries = sorted(relevant)
    vectors = model.encode(queries, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    scores = np.asarray(vectors, dtype=np.float32) @ catalog_vectors.T
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(
        top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), axis=1
    )
    values = [
        ndcg_at_k(skus[row].tolist(), dict.fromkeys(relevant[q], 1.0), k)
        for q, row in zip(queries, order, strict=True)
    ]
    return float(np.mean(values)) if values else 0.0


def encode_catalog(model: SentenceTransformer, texts: list[str], batch_size: int) -> np.ndarray:
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=True
    )
    return np.asarray(vectors, dtype=np.float32)


@dataclass
class MnrlFineTuner:
    """In-batch-negatives fine-tuning of a SentenceTransformer under a wall-clock deadline."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 3e-5
    max_seq_length: int = 64
    warmup_share: float = 0.1
    seed: int = 42

    def fit(
        self, model: SentenceTransformer, queries: list[str], docs: list[str], deadline: float
    ) -> MnrlFineTuner:
        """Train ``model`` in place on aligned (query, doc) pairs; stops before a step would pass ``deadline``."""
        import torch
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        rng = random.Random(self.seed)
        torch.manual_seed(self.seed)
        plans = [no_duplicate_batches(queries, docs, self.batch_size, rng) for _ in range(self.epochs)]
        total = max(1, sum(len(p) for p in plans))
        warmup = max(1, math.ceil(self.warmup_share * total))
        serve_length = model.max_seq_length
        model.max_seq_length = self.max_seq_length
        loss_fn = MultipleNegativesRankingLoss(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
        )
        self.steps_, self.losses_, self.stopped_early_ = 0, [], False
        step_seconds, train_seconds = 0.0, 0.0
        model.train()
        try:
            with tqdm(total=total, desc="fine-tuning encoder", unit="step") as bar:
                for batches in plans:
                    for batch in batches:
                        if time.monotonic() + step_seconds > deadline:
                            self.stopped_early_ = True
                            return self
                        started = time.monotonic()
                        features = [
                            model.preprocess([queries[i] for i in batch]),
                            model.preprocess([docs[i] for i in batch]),
                        ]
                        loss = loss_fn(features, torch.empty(0))
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                        optimizer.step()
                        schedule.step()
                        optimizer.zero_grad(set_to_none=True)
                        self.steps_ += 1
                        self.losses_.append(float(loss.detach()))
                        train_seconds += time.monotonic() - started
                        step_seconds = train_seconds / self.steps_  # the next step will cost about this
                        bar.update(1)
                        bar.set_postfix(loss=f"{self.losses_[-1]:.3f}")
        finally:
            model.max_seq_length = serve_length
            model.eval()
        return self


def finetune_encoder(
    base_model_dir: Path, data: IngestResult, catalog: Catalog, settings: Settings, work_dir: Path
) -> tuple[Path | str, dict]:
    """Returns (model source to export: the fine-tuned model dir if it won, else base_model_dir, metrics dict)."""
    import torch

    start = time.monotonic()
    budget_end = start + settings.finetune_max_seconds
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.finetune_threads)
    try:
        pairs = search_pairs(data.events, catalog)
        try:
            train, val = split_by_query(pairs, settings.finetune_val_share, settings.random_seed)
        except ValueError as exc:
            console.print(f"[yellow]fine-tuning skipped:[/] {exc}")
            return base_model_dir, _metrics(0, 0, float("nan"), float("nan"), False, start, skipped=str(exc))
        train = cap_pairs(train, settings.finetune_max_pairs, settings.random_seed)
        relevant = val.groupby("query")["sku"].agg(set).to_dict()
        texts = product_texts(catalog.products)
        batch = settings.encoder_batch_size

        model = load_sentence_transformer(base_model_dir, settings.encoder_max_seq_length)
        encode_started = time.monotonic()
        base_ndcg = dense_ndcg(model, encode_catalog(model, texts, batch), catalog.skus, relevant, batch)
        eval_seconds = time.monotonic() - encode_started
        console.print(f"  base encoder: NDCG@10 {base_ndcg:.4f} on {len(relevant)} held-out queries")

        doc_of = dict(zip(catalog.skus.tolist(), texts, strict=True))
        repeats = np.where(train["purchased"].to_numpy(), PURCHASE_WEIGHT, 1)
        queries = np.repeat(train["query"].to_numpy(dtype=object), repeats).tolist()
        docs = [doc_of[s] for s in np.repeat(train["sku"].to_numpy(dtype=object), repeats)]
        tuner = MnrlFineTuner(
            epochs=settings.finetune_epochs,
            batch_size=settings.finetune_batch_size,
            lr=settings.finetune_lr,
            max_seq_length=settings.finetune_max_seq_length,
            seed=settings.random_seed,
        )
        # Leave time for the second evaluation, which costs what the first did.
        tuner.fit(model, queries, docs, deadline=budget_end - 1.1 * eval_seconds)
        tuned_ndcg = (
            dense_ndcg(model, encode_catalog(model, texts, batch), catalog.skus, relevant, batch)
            if tuner.steps_
            else base_ndcg
        )
        # Compare at the reported precision: a 1e-5 "gain" is noise, not a reason to ship a new model.
        base_ndcg, tuned_ndcg = round(base_ndcg, 4), round(tuned_ndcg, 4)
        kept = bool(tuned_ndcg > base_ndcg)
        console.print(
            f"  fine-tuned ({tuner.steps_} steps): NDCG@10 {tuned_ndcg:.4f} -> {'kept' if kept else 'base model kept'}"
        )
        source: Path | str = base_model_dir
        if kept:
            source = Path(work_dir) / "model"
            source.mkdir(parents=True, exist_ok=True)
            model.save(str(source), create_model_card=False)
        return source, _metrics(
            len(train),
            len(relevant),
            base_ndcg,
            tuned_ndcg,
            kept,
            start,
            steps=tuner.steps_,
            stopped_early=tuner.stopped_early_,
            final_loss=tuner.losses_[-1] if tuner.losses_ else None,
            purchased_pairs=int(train["purchased"].sum()),
        )
    finally:
        torch.set_num_threads(previous_threads)


def _metrics(
    pairs_train: int, queries_val: int, base: float, tuned: float, kept: bool, start: float, **extra: object
) -> dict:
    return {
        "pairs_train": int(pairs_train),
        "queries_val": int(queries_val),
        "ndcg@10_base": round(base, 4) if not math.isnan(base) else None,
        "ndcg@10_finetuned": round(tuned, 4) if not math.isnan(tuned) else None,
        "kept": kept,
        "seconds": round(time.monotonic() - start, 1),
        **extra,
    }
