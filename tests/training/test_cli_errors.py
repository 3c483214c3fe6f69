"""The CLI's one error handler: an OmnirankError (the user's to fix) is one clean line and exit code 2;
anything else, a ValueError included, is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.bundle import BundleError
from models.errors import InputError, InputNotFound, OmnirankError
from models.rules import RulesError
from models.store.keys import KeyRequestError
from models.store.readonly import LiveStoreError
from service.security import InsecureStart
from training.batch.campaigns import CampaignError
from training.batch.writer import ResumeError
from training.cli import USER_ERROR, app
from training.eval_search import EvalInputError
from training.ingest import DataError


@pytest.fixture
def batch_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """batch-recommend up to run_batch (which the tests replace): nothing is read before it (no
    live rules file either, whatever the working directory holds)."""
    monkeypatch.setenv("OMNIRANK_RULES_PATH", str(tmp_path / "no-rules.json"))
    return [
        "batch-recommend",
        "--campaign",
        "newsletter",
        "--bundle",
        str(tmp_path / "bundles"),
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--no-store",
    ]


def _raise(exc: BaseException):
    def raiser(*args, **kwargs):
        raise exc

    return raiser


def test_every_user_error_class_derives_from_the_one_base_and_keeps_its_builtin() -> None:
    for cls, builtin in [
        (RulesError, ValueError),
        (LiveStoreError, ValueError),
        (KeyRequestError, ValueError),
        (BundleError, RuntimeError),
        (InsecureStart, RuntimeError),
        (EvalInputError, ValueError),
        (DataError, ValueError),
        (CampaignError, ValueError),
        (ResumeError, RuntimeError),
        (InputError, ValueError),
        (InputNotFound, FileNotFoundError),
    ]:
        assert issubclass(cls, OmnirankError) and issubclass(cls, builtin), cls


@pytest.mark.parametrize(
    "error",
    [CampaignError("unknown engine 'spark'; choose local or ray"), ResumeError("holds another job's parts")],
)
def test_a_user_error_is_one_clean_line_and_exit_code_2(
    batch_args: list[str], monkeypatch: pytest.MonkeyPatch, error: OmnirankError
) -> None:
    monkeypatch.setattr("training.batch.job.run_batch", _raise(error))
    result = CliRunner().invoke(app, batch_args)
    assert result.exit_code == USER_ERROR == 2
    assert result.stderr == f"error: {error}\n"  # one line, no traceback (the runner strips the colour)
    assert isinstance(result.exception, SystemExit)


def test_a_user_error_is_red_on_a_colour_terminal(
    batch_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.batch.job.run_batch", _raise(CampaignError("bad")))
    result = CliRunner().invoke(app, batch_args, color=True)
    assert result.exit_code == 2 and result.stderr == "\x1b[31merror: bad\x1b[0m\n"


def test_a_bare_value_error_in_a_command_is_a_bug_not_a_user_error(
    batch_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.batch.job.run_batch", _raise(ValueError("a bug deep inside")))
    result = CliRunner().invoke(app, batch_args)
    assert result.exit_code == 1  # propagated: the runner records the exception itself
    assert isinstance(result.exception, ValueError) and not isinstance(result.exception, OmnirankError)
    assert "error: a bug deep inside" not in result.output


def test_batch_recommend_bad_now_is_a_user_error(
    batch_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.batch.job.run_batch", _raise(AssertionError("never reached")))
    result = CliRunner().invoke(app, [*batch_args, "--now", "next tuesday-ish"])
    assert result.exit_code == 2 and "--now 'next tuesday-ish' is not an ISO 8601 time" in result.stderr


def test_analytics_period_errors_are_user_errors_and_other_value_errors_bugs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["analytics", "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "a")]
    bad = CliRunner().invoke(app, [*args, "--since", "2026-02-01", "--until", "2026-01-01"])
    assert bad.exit_code == 2 and "is not before --until" in bad.stderr
    monkeypatch.setattr("training.impact.write_analytics", _raise(ValueError("a bug")))
    bug = CliRunner().invoke(app, [*args, "--since", "2026-01-01", "--until", "2026-02-01"])
    assert bug.exit_code == 1 and isinstance(bug.exception, ValueError)


def test_a_subcommand_group_shares_the_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIRANK_EVENT_STORE_PATH", str(tmp_path / "store.sqlite3"))
    result = CliRunner().invoke(app, ["keys", "revoke", "nope"])
    assert result.exit_code == 2 and result.stderr == "error: no active key 'nope'\n"


def test_sample_and_import_errors_are_user_errors(tmp_path: Path) -> None:
    small = CliRunner().invoke(app, ["generate-sample", "--products", "10", "--out", str(tmp_path / "s")])
    assert small.exit_code == 2 and small.stderr.startswith("error: --products must be at least")
    missing = CliRunner().invoke(
        app, ["eval-recs", "--interactions", str(tmp_path / "none.csv"), "--no-ranker"]
    )
    assert missing.exit_code == 2 and "file not found" in missing.stderr
