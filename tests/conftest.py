"""Fixtures shared across test folders; named specifically so folders do not clash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def omnirank_exported_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2 exported once per session to ONNX (+ int8), with torch reference vectors.

    ``torch_reference.npy`` holds sentence-transformers embeddings of the texts in ``reference_texts.json``
    (ASCII, Portuguese, Hindi, empty, over-long and SKU-like texts).
    """
    from models.encoder import base_model_path, export_onnx, load_sentence_transformer, quantize_int8

    model = load_sentence_transformer(base_model_path())
    out = tmp_path_factory.mktemp("omnirank_encoder")
    quantize_int8(export_onnx(model, out))
    reference = model.encode(list(ENCODER_REFERENCE_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    np.save(out / "torch_reference.npy", reference)
    (out / "reference_texts.json").write_text(json.dumps(ENCODER_REFERENCE_TEXTS), encoding="utf-8")
    return out


ENCODER_REFERENCE_TEXTS = (
    "cordless drill",
    "18V lithium-ion brushless cordless hammer drill kit with two batteries",
    "1/2 in. x 10 ft. copper pipe",
    "BEHR Premium Textured DeckOver 1-gal. #SC-141 Tugboat Wood and Concrete Coating",
    "red running shoes for women size 8",
    "gift for dad under $50",
    "wireless noise cancelling headphones",
    "organic dog food for senior dogs",
    "nikey runing shoos",
    "tênis de corrida vermelho",
    "camiseta azul de algodão orgânico",
    "panela de pressão inox 6 litros",
    "लाल जूते",
    "बच्चों के लिए हिंदी किताब",
    "स्टेनलेस स्टील पानी की बोतल",
    "",
    "a",
    "SKU-12345-XL",
    "Ultra HD 4K Smart TV 55 inch with HDR10+ and Dolby Vision " * 20,
    "white vanity bathroom sink cabinet",
    "led light bulbs 60 watt equivalent soft white",
    "patio furniture set clearance",
    "kids winter jacket waterproof",
    "espresso machine with milk frother",
    "garden hose 50 ft",
    "fire pit",
    "ceiling fan with remote",
    "non-stick frying pan 12 inch",
    "yoga mat extra thick",
    "mechanical keyboard blue switches",
)
