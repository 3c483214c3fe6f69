"""``Serving.refresh_rules``: a worker picks up a rules file another worker process replaced.

Each test builds its own ``Serving`` over the session's loaded bundle with its own rules file, so the
session ``client`` never sees these rules.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from models.rules import RuleSet
from service.serving import Serving


@pytest.fixture()
def state(client, tmp_path: Path) -> Serving:
    served: Serving = client.app.state.serving
    settings = served.settings.model_copy(update={"rules_path": tmp_path / "rules.json"})
    return Serving(settings, served.store, served.view.base, served.clock)


def _pin(state: Serving, rule_id: str, query: str = "zqx promo") -> RuleSet:
    sku = str(state.view.catalog.skus[0])
    return RuleSet.model_validate(
        {"rules": [{"id": rule_id, "match": {"exact": query}, "pin": [{"sku": sku, "position": 1}]}]}
    )


def _ids(state: Serving) -> list[str]:
    return [r.id for r in state.view.rules.rules]


def test_reloads_only_when_the_file_changed(state: Serving) -> None:
    _pin(state, "first").save(state.rules_path)
    assert state.refresh_rules() is True and _ids(state) == ["first"]
    assert state.refresh_rules() is False  # unchanged: one stat, no parse
    _pin(state, "second").save(state.rules_path)  # as another worker's PUT does
    assert state.refresh_rules() is True and _ids(state) == ["second"]


def test_a_replace_within_one_timestamp_tick_and_of_equal_size_is_seen(state: Serving) -> None:
    _pin(state, "rule-a").save(state.rules_path)
    state.refresh_rules()
    before = os.stat(state.rules_path)
    _pin(state, "rule-b").save(state.rules_path)  # same length: only the id's last letter differs
    os.utime(state.rules_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(state.rules_path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert state.refresh_rules() is True and _ids(state) == ["rule-b"]  # a new inode gives it away


def test_an_invalid_or_missing_file_keeps_the_rules_and_logs_once(
    state: Serving, caplog: pytest.LogCaptureFixture
) -> None:
    _pin(state, "good").save(state.rules_path)
    state.refresh_rules()
    Path(state.rules_path).write_text('{"rules": [{"id": "bad"}]}', encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="service.serving"):
        assert state.refresh_rules() is False
        assert state.refresh_rules() is False
    assert _ids(state) == ["good"]
    assert len([r for r in caplog.records if "is invalid" in r.getMessage()]) == 1
    Path(state.rules_path).unlink()
    assert state.refresh_rules() is False and _ids(state) == ["good"]


def test_concurrent_requests_reload_once_and_none_serves_the_old_rules(state: Serving) -> None:
    # Every request must see the new rules as soon as its own check returns, not only the one that
    # reloaded (a thread that saw the new signature while another was still parsing once served old rules).
    _pin(state, "v1").save(state.rules_path)
    state.refresh_rules()
    _pin(state, "v2").save(state.rules_path)
    barrier = threading.Barrier(8)
    reloaded: list[bool] = []
    served: list[list[str]] = []

    def request() -> None:
        barrier.wait()
        reloaded.append(state.refresh_rules())
        served.append(_ids(state))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reloaded.count(True) == 1
    assert served == [["v2"]] * 8
