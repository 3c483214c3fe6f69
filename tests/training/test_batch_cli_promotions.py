"""batch-recommend's --rules and --new-and-sale through the CLI, on the planted batch world of
``test_batch.py``: the live rules file's email rules reach the nightly job by default, --rules
overrides it, and --new-and-sale turns the newsletter's section on (it is in the job's record)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from test_batch import SALT, batch_planted_world  # noqa: F401  (the fixture)
from typer.testing import CliRunner

from training.cli import NEW_AND_SALE_ITEMS, app


def _rules(path: Path, pin: str, hide: str) -> Path:
    rule = {"id": f"email-{pin}", "surfaces": ["email"], "pin": [{"sku": pin, "position": 1}], "hide": [hide]}
    path.write_text(json.dumps({"rules": [rule]}), encoding="utf-8")
    return path


def _run(world: dict[str, Path], out: Path, live_rules: Path, *extra: str) -> tuple[pd.DataFrame, dict]:
    env = {
        "OMNIRANK_PII_SALT": SALT,
        "OMNIRANK_BATCH_K": "5",
        "OMNIRANK_EVENT_STORE_PATH": str(out.parent / "no-such-store.sqlite3"),
        "OMNIRANK_RULES_PATH": str(live_rules),
    }
    args = ["batch-recommend", "--campaign", "newsletter", "--bundle", str(world["bundle"])]
    result = CliRunner().invoke(
        app, [*args, "--data", str(world["data"]), "--out", str(out), *extra], env=env
    )
    assert result.exit_code == 0, result.output
    record = next(
        json.loads(p.read_text()) for p in sorted(out.glob("_*.json")) if "promotions" in p.read_text()
    )
    return pd.read_parquet(out), record


def test_live_rules_file_reaches_the_emails_by_default(batch_planted_world, tmp_path):  # noqa: F811
    w = batch_planted_world
    live = _rules(tmp_path / "live-rules.json", pin="P10", hide="P02")
    out, record = _run(w, tmp_path / "default", live)
    assert len(out) and out[out["rank"] == 1]["sku"].eq("P10").all()
    assert out[out["rank"] == 1]["reason"].eq("Featured by the shop").all()
    assert not out["sku"].eq("P02").any()
    assert record["promotions"] == {"email_rules": ["email-P10"], "new_and_sale": 0}


def test_rules_option_overrides_the_live_file_and_new_and_sale_turns_the_section_on(
    batch_planted_world,  # noqa: F811
    tmp_path,
):
    w = batch_planted_world
    live = _rules(tmp_path / "live-rules.json", pin="P10", hide="P02")
    other = _rules(tmp_path / "other-rules.json", pin="P09", hide="P03")
    out, record = _run(w, tmp_path / "override", live, "--rules", str(other), "--new-and-sale")
    assert out[out["rank"] == 1]["sku"].eq("P09").all()
    assert not out["sku"].eq("P03").any()
    assert record["promotions"] == {"email_rules": ["email-P09"], "new_and_sale": NEW_AND_SALE_ITEMS}
    missing = CliRunner().invoke(
        app,
        [
            "batch-recommend",
            "--campaign",
            "newsletter",
            "--bundle",
            str(w["bundle"]),
            "--data",
            str(w["data"]),
        ]
        + ["--out", str(tmp_path / "x"), "--rules", str(tmp_path / "nope.json")],
        env={"OMNIRANK_PII_SALT": SALT},
    )
    assert missing.exit_code != 0 and "is not a file" in missing.output
