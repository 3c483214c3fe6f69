"""The artifact bundle: one immutable, checksummed directory per trained version.

Layout::

    bundles/
      20261125T193000Z-1a2b3c4d/     one version, immutable once complete
        manifest.json                version, created_at, data fingerprint, library versions,
                                     parameters, sha256 of every file, metrics
        ...artifacts (.npy, .npz, .parquet, .json, faiss indexes, ONNX)
      latest -> 20261125T193000Z-1a2b3c4d

A version is written into a hidden ``.tmp-*`` directory, checksummed, renamed into place, verified,
and only then does ``latest`` move (``os.replace`` of a symlink is atomic on POSIX). A crash at any
point leaves the previous ``latest`` serving and at worst a ``.tmp-*`` directory that the next run
removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from models.clock import Clock, system_clock
from models.errors import OmnirankError
from models.files import atomic_symlink, atomic_write, fsync_dir

FORMAT_VERSION = 1
"""Bump when a reader of the previous format can no longer load a bundle."""

MANIFEST = "manifest.json"
LATEST = "latest"
TMP_PREFIX = ".tmp-"
SEARCH = "search"
SUGGEST = "suggest"
CUSTOMERS = "customers"
RECOMMENDATIONS = "recommendations"
RECS_RANKER = "recs_ranker"
ALL_COMPONENTS = (SEARCH, SUGGEST, CUSTOMERS, RECOMMENDATIONS, RECS_RANKER)
"""The components a bundle can hold (``models/components.py`` says what each is). A bundle trained
from a catalog alone (no customers, no events: a retailer starting with search, or a benchmark's
large catalog) holds only ``search`` and ``suggest``; ``recs_ranker`` is listed only when training kept
it (it beat the blend on validation)."""
_SPLIT_SINCE_FORMAT_1 = {SEARCH: (SEARCH, SUGGEST), RECOMMENDATIONS: (CUSTOMERS, RECOMMENDATIONS)}
"""Bundles published before suggest and customers were components of their own listed them under
search and recommendations."""

LIBRARIES = (
    "numpy",
    "faiss-cpu",
    "implicit",
    "scikit-learn",
    "onnxruntime",
    "sentence-transformers",
    "torch",
    "bm25s",
    "pyarrow",
)


class BundleError(OmnirankError, RuntimeError):
    """A bundle is missing, incomplete, corrupt or of an unsupported format."""


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_files(paths: Iterable[Path]) -> str:
    """Content hash of input files, so two bundles trained on the same data say so."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()[:16]


def config_hash(parameters: dict[str, Any]) -> str:
    """Hash of the training parameters, stored with the artifacts so stale ones are detected."""
    blob = json.dumps(parameters, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _inside(relative: str) -> bool:
    """``relative`` names a path below the bundle directory (no absolute path, no ``..``)."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts


def _list_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != MANIFEST)


class BundleWriter:
    """Collects artifacts in a hidden directory and publishes them as one version.

    Use as a context manager: an exception inside the block removes the partial version and leaves
    ``latest`` untouched.
    """

    def __init__(self, bundles_dir: Path, version: str | None = None, clock: Clock = system_clock) -> None:
        self.bundles_dir = Path(bundles_dir)
        self.bundles_dir.mkdir(parents=True, exist_ok=True)
        self.created_at = clock()
        self.version = version or self.created_at.strftime("%Y%m%dT%H%M%S%fZ")
        if (self.bundles_dir / self.version).exists():
            raise BundleError(f"bundle version {self.version} already exists in {self.bundles_dir}")
        self._remove_stale_tmp()
        self.path = self.bundles_dir / f"{TMP_PREFIX}{self.version}"
        self.path.mkdir()
        self.published: Path | None = None

    def _remove_stale_tmp(self) -> None:
        for stale in self.bundles_dir.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.published is None:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, relative: str) -> Path:
        """Path inside the version being written (parent directories created)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_json(self, relative: str, obj: Any) -> Path:
        target = self.file(relative)
        target.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        return target

    def publish(
        self,
        *,
        data_fingerprint: str,
        parameters: dict[str, Any],
        metrics: dict[str, Any],
        extra: dict[str, Any] | None = None,
        components: Iterable[str] = ALL_COMPONENTS,
    ) -> Path:
        """Checksum every file, write the manifest, move into place, verify, then move ``latest``."""
        components = list(components)
        unknown = set(components) - set(ALL_COMPONENTS)
        if not components or unknown:
            raise BundleError(f"components must be a non-empty subset of {ALL_COMPONENTS}; got {components}")
        files = {
            str(p.relative_to(self.path)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in _list_files(self.path)
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "data_fingerprint": data_fingerprint,
            "config_hash": config_hash(parameters),
            "library_versions": library_versions(),
            "parameters": parameters,
            "metrics": metrics,
            "files": files,
            "components": components,
            **(extra or {}),
        }
        for p in _list_files(self.path):
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        atomic_write(self.path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str))
        final = self.bundles_dir / self.version
        os.rename(self.path, final)
        fsync_dir(self.bundles_dir)
        Bundle.open(final).verify()
        point_latest(self.bundles_dir, self.version)
        self.published = final
        return final


def point_latest(bundles_dir: Path, version: str) -> None:
    """Atomically make ``bundles_dir/latest`` point at ``version``."""
    bundles_dir = Path(bundles_dir)
    if not (bundles_dir / version / MANIFEST).exists():
        raise BundleError(f"cannot point latest at {version}: it has no manifest")
    atomic_symlink(bundles_dir / LATEST, version)


def resolve_bundle_path(path: Path) -> Path:
    """Accept a version directory, a ``latest`` link, or a bundles directory holding ``latest``."""
    path = Path(path)
    if (path / MANIFEST).exists():
        return path.resolve()
    if (path / LATEST / MANIFEST).exists():
        return (path / LATEST).resolve()
    raise BundleError(
        f"no bundle at {path}: expected a version directory with {MANIFEST} or a bundles directory "
        f"with a '{LATEST}' link. Train one with: omnirank train --data data_samples --out {path}"
    )


@dataclass
class Bundle:
    """A published bundle, read-only."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def open(cls, path: Path, verify: bool = False) -> Bundle:
        root = resolve_bundle_path(path)
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"unreadable manifest in {root}: {exc}") from exc
        fmt = manifest.get("format_version")
        if fmt != FORMAT_VERSION:
            raise BundleError(
                f"bundle {root.name} has format_version {fmt}; this omnirank reads {FORMAT_VERSION}. "
                "Retrain with this version of omnirank."
            )
        bundle = cls(root, manifest)
        if verify:
            bundle.verify()
        return bundle

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest.get("metrics", {})

    @property
    def parameters(self) -> dict[str, Any]:
        return self.manifest.get("parameters", {})

    @property
    def components(self) -> frozenset[str]:
        """What this bundle serves; bundles written before components were recorded hold both."""
        listed = self.manifest.get("components", (SEARCH, RECOMMENDATIONS))
        if SUGGEST in listed or CUSTOMERS in listed:
            return frozenset(listed)
        return frozenset(name for old in listed for name in _SPLIT_SINCE_FORMAT_1.get(old, (old,)))

    def file(self, relative: str) -> Path:
        if relative not in self.manifest["files"]:
            raise BundleError(f"bundle {self.version} has no file {relative!r}")
        return self.path / relative

    def has(self, relative: str) -> bool:
        return relative in self.manifest["files"]

    def holds(self, relative: str) -> bool:
        """A listed file, or a directory holding at least one listed file."""
        prefix = relative.rstrip("/") + "/"
        return self.has(relative) or any(name.startswith(prefix) for name in self.manifest["files"])

    def read_json(self, relative: str) -> Any:
        return json.loads(self.file(relative).read_text())

    def verify(self) -> None:
        """Recompute every checksum; raise on a missing, extra-sized or altered file, on a file the
        manifest does not list (anything under the version directory but ``manifest.json`` itself:
        a file slipped in after publishing is never served) and on a listed path outside it."""
        problems = []
        files = self.manifest.get("files")
        if not isinstance(files, dict):
            raise BundleError(f"bundle {self.path.name} failed verification: its manifest lists no files")
        for relative, meta in files.items():
            p = self.path / relative
            if not _inside(relative):
                problems.append(f"listed path {relative!r} is outside the bundle")
            elif not p.is_file():
                problems.append(f"missing {relative}")
            elif (
                not isinstance(meta, dict)
                or p.stat().st_size != meta.get("bytes")
                or sha256_file(p) != meta.get("sha256")
            ):
                problems.append(f"checksum mismatch in {relative}")
        for p in sorted(self.path.rglob("*")):
            if p.is_dir() and not p.is_symlink():
                continue
            relative = p.relative_to(self.path).as_posix()
            if relative != MANIFEST and relative not in files:
                problems.append(f"unlisted file {relative}")
        if problems:
            raise BundleError(f"bundle {self.path.name} failed verification: " + "; ".join(problems))
