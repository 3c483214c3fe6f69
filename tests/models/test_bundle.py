"""The bundle is immutable, checksummed, and `latest` only moves to a complete, verified version."""

import json

import numpy as np
import pytest

from models.bundle import Bundle, BundleError, BundleWriter, resolve_bundle_path


def _write_version(bundles, version, value=1.0):
    with BundleWriter(bundles, version=version) as w:
        np.save(w.file("arrays/x.npy"), np.full(4, value))
        w.write_json("params.json", {"value": value})
        return w.publish(data_fingerprint="abc", parameters={"k": value}, metrics={"m": value})


def test_publish_writes_manifest_with_checksums_and_moves_latest(tmp_path):
    path = _write_version(tmp_path, "v1")
    bundle = Bundle.open(tmp_path, verify=True)
    assert bundle.path == path.resolve()
    assert set(bundle.manifest["files"]) == {"arrays/x.npy", "params.json"}
    assert bundle.manifest["data_fingerprint"] == "abc"
    assert "numpy" in bundle.manifest["library_versions"]
    assert (tmp_path / "latest").resolve() == path.resolve()
    _write_version(tmp_path, "v2", 2.0)
    assert Bundle.open(tmp_path).version == "v2"


def test_flipped_byte_is_detected(tmp_path):
    path = _write_version(tmp_path, "v1")
    target = path / "arrays" / "x.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch in arrays/x.npy"):
        Bundle.open(path, verify=True)


def test_missing_file_is_detected(tmp_path):
    path = _write_version(tmp_path, "v1")
    (path / "params.json").unlink()
    with pytest.raises(BundleError, match="missing params.json"):
        Bundle.open(path).verify()


def test_crash_mid_write_keeps_previous_latest_and_leaves_no_partial_version(tmp_path):
    _write_version(tmp_path, "v1")
    with pytest.raises(RuntimeError, match="boom"), BundleWriter(tmp_path, version="v2") as w:
        np.save(w.file("x.npy"), np.zeros(3))
        raise RuntimeError("boom")
    assert Bundle.open(tmp_path).version == "v1"
    assert not (tmp_path / "v2").exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_stale_tmp_from_a_killed_run_is_cleaned_on_next_write(tmp_path):
    (tmp_path / ".tmp-killed").mkdir()
    _write_version(tmp_path, "v1")
    assert not (tmp_path / ".tmp-killed").exists()


def test_unsupported_format_version_fails_with_a_clear_message(tmp_path):
    path = _write_version(tmp_path, "v1")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 999
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format_version 999"):
        Bundle.open(path)


def test_missing_bundle_message_says_how_to_train(tmp_path):
    with pytest.raises(BundleError, match="omnirank train"):
        resolve_bundle_path(tmp_path / "nowhere")
