"""Semantic product embeddings: export the encoder to ONNX, check it agrees with torch, embed the
catalog with ONNX Runtime (the same runtime the service uses for queries) and index it with FAISS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.encoder import OnnxEncoder
from models.text import product_text
from models.vector_index import VectorIndex
from training.encoder_export import export_onnx, load_sentence_transformer, quantize_int8

AGREEMENT_TEXTS = (
    "insulated stainless steel tumbler keeps coffee hot",
    "red running shoes size 42",
    "gift for dad under 50",
    "tênis de corrida vermelho",
    "लाल जूते",
    "wireless noise cancelling headphones with 30 hour battery",
    "organic dog food for senior dogs",
    "nikey runing shoos",
)


def product_texts(products: pd.DataFrame) -> list[str]:
    return [product_text(row) for row in products.to_dict("records")]


def export_encoder(
    model_source: Path | str | object, encoder_dir: Path, max_seq_length: int
) -> dict[str, float]:
    """Export to ONNX (+ int8) in ``encoder_dir`` and measure ONNX vs torch cosine agreement."""
    model = (
        load_sentence_transformer(model_source, max_seq_length=max_seq_length)
        if isinstance(model_source, (str, Path))
        else model_source
    )
    onnx_path = export_onnx(model, encoder_dir)
    quantize_int8(onnx_path)
    reference = model.encode(list(AGREEMENT_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    onnx_vectors = OnnxEncoder(encoder_dir, max_length=max_seq_length).encode(list(AGREEMENT_TEXTS))
    cosine = np.sum(reference * onnx_vectors, axis=1)
    return {"onnx_torch_cosine_min": float(cosine.min()), "onnx_torch_cosine_mean": float(cosine.mean())}


def embed_catalog(encoder: OnnxEncoder, products: pd.DataFrame, batch_size: int) -> np.ndarray:
    return encoder.encode(product_texts(products), batch_size=batch_size, show_progress=True)


def build_vector_index(
    vectors: np.ndarray, ids: list[str], exact_max_items: int, hnsw_m: int, ef_search: int
) -> tuple[VectorIndex, dict]:
    """FAISS index chosen by size, with its recall@10 against exact search recorded."""
    index = VectorIndex(exact_max_items=exact_max_items, hnsw_m=hnsw_m, ef_search=ef_search).build(
        vectors, ids
    )
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(len(vectors), size=min(200, len(vectors)), replace=False)]
    return index, {"factory": index.factory_, "recall@10_vs_exact": float(index.measure_recall(sample, k=10))}
