"""The serving install (``pip install omnirank``, no ``[train]``) serves a bundle: in a fresh
interpreter whose import system refuses every train-only package (an import hook stands in for their
absence), the service app is created over the trained sample bundle, answers a search, a customer's
and an item's recommendations, and ``omnirank serve --help`` works; a training command says which
extra to install instead of a traceback. The train-only list is the CLI's ``TRAIN_ONLY_PACKAGES`` and
must match pyproject's ``[train]`` extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]

BLOCKER = """
import sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: train-only)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    raise SystemExit(f"{loaded} was imported before the blocker")
"""

SERVE = """
import json, tempfile
from pathlib import Path
import pandas as pd
import service.app
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from models.config import Settings
from training.cli import app
bundles = Path(sys.argv[2])
state = Path(tempfile.mkdtemp())
cfg = Settings(bundles_dir=bundles, event_store_path=state / "events.sqlite3", rules_path=state / "rules.json",
               dev_mode=True)
out = {}
customer = str(pd.read_parquet(bundles / "latest" / "identity" / "customers.parquet")["customer_id"].iloc[0])
sku = str(pd.read_parquet(bundles / "latest" / "catalog" / "products.parquet")["sku"].iloc[0])
with TestClient(service.app.create_app(cfg)) as client:
    r = client.get("/v1/search", params={"q": "shoes"})
    out["search"] = [r.status_code, len(r.json().get("hits", []))]
    r = client.get(f"/v1/recommendations/customers/{customer}")
    out["customer"] = [r.status_code, len(r.json().get("items", []))]
    r = client.get(f"/v1/recommendations/items/{sku}/similar")
    out["similar"] = [r.status_code, len(r.json().get("items", []))]
    out["ready"] = client.get("/health/ready").status_code
runner = CliRunner()
r = runner.invoke(app, ["serve", "--help"])
out["serve_help"] = [r.exit_code, "--workers" in r.output]
r = runner.invoke(app, ["train", "--data", str(state), "--out", str(state / "b")])
out["train"] = [r.exit_code, r.output]
out["blocked_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("RESULT" + json.dumps(out))
"""


def _train_only() -> set[str]:
    from training.cli import TRAIN_ONLY_PACKAGES

    return set(TRAIN_ONLY_PACKAGES)


def test_train_extra_matches_the_blocked_packages():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    serving = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]}
    train = {
        d.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        for d in project["optional-dependencies"]["train"]
    }
    assert "torch" in train and "torch" not in serving
    assert not serving & train
    modules = {"scikit-learn": "sklearn", "sentence-transformers": "sentence_transformers"}
    assert {modules.get(d, d.replace("-", "_")) for d in train} <= _train_only()


@pytest.fixture(scope="module")
def slim_run(trained_bundle: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("OMNIRANK_DEV_MODE", None)
    blocked = ",".join(sorted(_train_only()))
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER + SERVE, blocked, str(trained_bundle)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT") :])


def test_service_serves_a_bundle_without_training_packages(slim_run):
    assert slim_run["ready"] == 200
    assert slim_run["search"][0] == 200 and slim_run["search"][1] > 0
    assert slim_run["customer"][0] == 200 and slim_run["customer"][1] > 0
    assert slim_run["similar"][0] == 200 and slim_run["similar"][1] > 0
    assert slim_run["blocked_loaded"] == []


def test_serve_command_works_and_training_commands_name_the_extra(slim_run):
    assert slim_run["serve_help"] == [0, True]
    code, output = slim_run["train"]
    assert code == 2, output
    assert "omnirank[train]" in output
