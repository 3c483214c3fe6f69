"""ONNX export of all-MiniLM-L6-v2 agrees with sentence-transformers and runs without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.encoder import OnnxEncoder, base_model_path


@pytest.fixture(scope="module")
def exported_encoder_dir(omnirank_exported_encoder_dir: Path) -> Path:
    return omnirank_exported_encoder_dir


def _texts(encoder_dir: Path) -> list[str]:
    return json.loads((encoder_dir / "reference_texts.json").read_text(encoding="utf-8"))


def test_base_model_is_local() -> None:
    path = base_model_path()
    assert (path / "tokenizer.json").exists() and path.is_dir()


def test_onnx_agrees_with_torch(exported_encoder_dir: Path) -> None:
    reference = np.load(exported_encoder_dir / "torch_reference.npy")
    encoder = OnnxEncoder(exported_encoder_dir)
    vectors = encoder.encode(
        _texts(exported_encoder_dir), batch_size=7
    )  # odd batch: padding across different lengths
    assert vectors.shape == (len(reference), 384) and len(reference) >= 30 and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(vectors * reference, axis=1)
    assert cosine.min() >= 0.999, cosine


def test_int8_agrees_reasonably(exported_encoder_dir: Path) -> None:
    reference = np.load(exported_encoder_dir / "torch_reference.npy")
    int8 = OnnxEncoder(exported_encoder_dir, model_file="model.int8.onnx")
    cosine = np.sum(int8.encode(_texts(exported_encoder_dir)) * reference, axis=1)
    assert cosine.min() >= 0.95, cosine
    assert (exported_encoder_dir / "model.int8.onnx").stat().st_size < (
        exported_encoder_dir / "model.onnx"
    ).stat().st_size / 3


def test_loads_from_exported_dir_alone_without_torch(exported_encoder_dir: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy2(exported_encoder_dir / name, alone / name)
    code = (
        "import sys, numpy as np\n"
        "from models.encoder import OnnxEncoder\n"
        f"v = OnnxEncoder({str(alone)!r}).encode(['cordless drill'])\n"
        "assert v.shape == (1, 384)\n"
        "assert 'torch' not in sys.modules, 'serving encoder imported torch'\n"
        "print(float(v[0, :3].sum()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    reference = np.load(exported_encoder_dir / "torch_reference.npy")
    assert float(result.stdout.strip()) == pytest.approx(float(reference[0, :3].sum()), abs=1e-3)


def test_query_cache_and_latency(exported_encoder_dir: Path) -> None:
    encoder = OnnxEncoder(exported_encoder_dir, threads=1, cache_size=2)
    first = encoder.encode_query("cordless drill")
    assert encoder.encode_query("cordless drill") is first  # cached
    encoder.encode_query("b")
    encoder.encode_query("c")  # evicts "cordless drill"
    assert encoder.encode_query("cordless drill") is not first


def test_missing_files_raise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        OnnxEncoder(tmp_path)
