"""Training stages of the ``search`` and ``suggest`` components."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models import artifacts as A
from models.columns import as_str
from models.encoder import OnnxEncoder, base_model_path
from models.lexical import BM25Index
from models.query import QueryUnderstanding
from models.query.category import CategoryClassifier
from models.query.parser import QueryParser
from models.rules import RuleSet
from models.suggest import Suggester, query_log_from_events, sku_popularity
from training import embed
from training.embed_cache import EmbeddingCache, cached_encoder, copy_encoder, encoder_key
from training.ranker import popularity, train_search_ranker
from training.stages.run import TrainingRun


def embed_catalog(run: TrainingRun) -> None:
    """Export the encoder to ONNX (fine-tuned first when asked), embed the catalog, index it."""
    settings, catalog = run.settings, run.catalog
    encoder_dir = run.dir(A.ENCODER_DIR)
    source = base_model_path(settings.encoder_package)
    if run.finetune:
        from training.finetune import finetune_encoder

        source, run.metrics["finetune"] = finetune_encoder(
            source, run.data, catalog, settings, run.dir(A.FINETUNE_DIR)
        )
    max_length = settings.encoder_max_seq_length
    key = encoder_key(source, max_length)

    def export(into: Path) -> dict[str, float]:
        return embed.export_encoder(source, into, max_length)

    def encode(texts: list[str]) -> np.ndarray:
        if (
            run.ray_address or settings.embed_workers > 1
        ):  # Ray tasks, the same vectors (training/embed_ray.py)
            from training.embed_ray import embed_texts_ray

            vectors, run.metrics["embedding"] = embed_texts_ray(
                encoder_dir,
                texts,
                settings.encoder_batch_size,
                max_length,
                address=run.ray_address,
                workers=settings.embed_workers,
            )
            return vectors
        encoder = OnnxEncoder(encoder_dir, max_length=max_length, threads=2)
        return encoder.encode(texts, batch_size=settings.encoder_batch_size, show_progress=True)

    texts = embed.product_texts(catalog.products)
    if settings.embedding_cache:
        cached, run.metrics["encoder"], from_cache = cached_encoder(export, key, settings.cache_dir)
        copy_encoder(cached, encoder_dir)
        vectors, counts = EmbeddingCache(settings.cache_dir, key).transform(texts, encode)
        run.metrics["embedding_cache"] = {"encoder_export": "cached" if from_cache else "exported", **counts}
    else:
        run.metrics["encoder"] = export(encoder_dir)
        vectors = encode(texts)
    np.save(run.out.file(A.PRODUCT_EMBEDDINGS), vectors)
    index, run.metrics["product_index"] = embed.build_vector_index(
        vectors,
        catalog.skus.tolist(),
        settings.exact_index_max_items,
        settings.hnsw_m,
        settings.hnsw_ef_search,
    )
    index.save(run.dir(A.PRODUCT_INDEX_DIR))


def index_lexical(run: TrainingRun) -> None:
    settings, catalog = run.settings, run.catalog
    bm25 = BM25Index(k1=settings.bm25_k1, b=settings.bm25_b, stemming=settings.bm25_stemming)
    bm25.fit(catalog.products, catalog.skus.tolist()).save(run.dir(A.BM25_DIR))


def learn_query_understanding(run: TrainingRun) -> None:
    """Spelling, attributes, category intent and synonyms from the catalog and the clicked queries;
    the default merchandising rules (its synonyms) ship with it."""
    settings, catalog, events = run.settings, run.catalog, run.data.events
    clicks = events[(events["type"] == "search_click") & events["query"].notna()]
    category_of = catalog.products.set_index("sku")["category"]
    pairs = list(
        zip(clicks["query"].astype(str), as_str(clicks["sku"]).map(category_of).astype(str), strict=True)
    )
    qu = QueryUnderstanding(
        category_threshold=settings.query_category_threshold,
        parser=QueryParser(
            max_query_chars=settings.max_query_chars,
            spell_max_distance=settings.query_spell_max_distance,
            spell_min_query_count=settings.query_spell_min_query_count,
        ),
        classifier=CategoryClassifier(C=settings.query_classifier_c),
    ).fit(catalog.products, query_log=clicks["query"].astype(str).tolist(), query_categories=pairs)
    qu.save(run.dir(A.QUERY_DIR))
    # The default rules ship in the (immutable) bundle; the service edits its own live copy.
    run.out.file(A.RULES).write_text(RuleSet.from_synonyms(qu.synonyms_).to_json(), encoding="utf-8")


def learn_suggestions(run: TrainingRun) -> None:
    settings, events = run.settings, run.data.events
    suggester = Suggester(min_query_count=settings.suggest_min_query_count, max_k=settings.suggest_max_k)
    suggester.fit(run.catalog.products, query_log_from_events(events), sku_popularity(events))
    suggester.save(run.dir(A.SUGGEST_DIR))


def learn_search_ranker(run: TrainingRun) -> None:
    np.save(run.out.file(A.POPULARITY), popularity(run.data.events, run.catalog))
    run.metrics["search_ranker"] = train_search_ranker(
        run.out.path, run.catalog, run.data.events, run.settings
    )
