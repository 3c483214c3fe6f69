"""``omnirank ab-report`` and its exposures: answers of each arm with their clicks and attributed
purchases, read from a store the way the service leaves it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from models.store import LiveStore, StoredEvent
from models.store.analytics_tables import ServedAnswer
from training.cli import app
from training.impact import Period, exposures, read_frames

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def _store(path: Path, units_per_arm: int, ctr_a: float, ctr_b: float, seed: int = 0) -> Path:
    """Each unit searches once; a share of each arm clicks its answer, every tenth clicker buys at 20."""
    rng = np.random.default_rng(seed)
    answers, events = [], []
    for arm, ctr in (("A", ctr_a), ("B", ctr_b)):
        for u in range(units_per_arm):
            rid = f"{arm}{u}"
            at = T0 + timedelta(seconds=u)
            answers.append(
                ServedAnswer(rid, "search", arm, f"unit-{arm}{u}", "shoes", ("S1", "S2"), at.timestamp())
            )
            if rng.random() < ctr:
                session = dict(session_id=f"s-{rid}")
                events.append(
                    StoredEvent(
                        f"c-{rid}",
                        "k",
                        "search_click",
                        at,
                        "web",
                        "S2",
                        request_id=rid,
                        position=2,
                        **session,
                    )
                )
                if u % 10 == 0:
                    events.append(
                        StoredEvent(
                            f"p-{rid}",
                            "k",
                            "purchase",
                            at + timedelta(minutes=1),
                            "web",
                            "S2",
                            price=20.0,
                            **session,
                        )
                    )
    answers.append(
        ServedAnswer("anon", "search", "A", None, "shoes", ("S1",), T0.timestamp())
    )  # no unit: left out
    with LiveStore(path) as store:
        store.record_served(answers)
        store.append(events)
    return path  # fmt: skip


def test_exposures_count_clicks_and_attributed_revenue_per_answer(tmp_path: Path):
    store = _store(tmp_path / "s.db", 10, ctr_a=1.0, ctr_b=0.0)
    period = Period.parse("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", 24, T0)
    served, events = read_frames(store, period)
    frame = exposures(served, events, period.window, ("search",))
    assert len(frame) == 20  # the answer without a unit is not in the test
    a, b = frame[frame["arm"] == "A"], frame[frame["arm"] == "B"]
    assert a["clicked"].sum() == 10 and b["clicked"].sum() == 0
    assert a["converted"].sum() == 1 and a["revenue"].sum() == 20.0  # unit A0 bought, via its session


def test_ab_report_names_the_better_arm_only_with_enough_shoppers(tmp_path: Path):
    store = _store(tmp_path / "s.db", 300, ctr_a=0.6, ctr_b=0.3)
    args = ["ab-report", "--store", str(store), "--since", "2026-10-01", "--until", "2026-10-02"]
    runner = CliRunner()
    few = runner.invoke(app, [*args, "--min-units", "1000", "--out", str(tmp_path / "few.json")])
    assert few.exit_code == 0, few.output
    assert json.loads((tmp_path / "few.json").read_text())["verdict"] == "not enough data"
    enough = runner.invoke(app, [*args, "--min-units", "200", "--out", str(tmp_path / "ok.json")])
    report = json.loads((tmp_path / "ok.json").read_text())
    assert report["verdict"] == "A better", enough.output
    assert report["n_units"] == {"A": 300, "B": 300}
    bad = runner.invoke(app, [*args, "--surface", "billboard"])
    assert bad.exit_code == 2 and "unknown surface" in bad.output
