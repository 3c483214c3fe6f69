"""deploy/ stays honest without a container daemon: every ``omnirank`` subcommand and option the
Dockerfile, compose file and systemd unit run exists in the CLI (``--help``), every pip extra they
install exists in pyproject, and every ``OMNIRANK_*`` variable they set is a real setting."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import tomllib
import yaml
from typer.testing import CliRunner

from models.config import Settings
from training.cli import app

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SEPARATORS = {"&&", "||", ";", "|", "do", "done", "then"}


def omnirank_calls(text: str) -> list[tuple[str, list[str]]]:
    """Every ``omnirank <command> --opt ...`` in a shell-ish text: (command, its --options)."""
    calls = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0] if not line.lstrip().startswith("CMD") else line
        tokens = [t.strip("\"',[]").rstrip(";") for t in re.split(r"[\s,]+", line) if t.strip("\"',[]")]
        for i, token in enumerate(tokens):
            if (
                Path(token).name == "omnirank"
                and i + 1 < len(tokens)
                and re.fullmatch(r"[a-z][a-z-]+", tokens[i + 1])
            ):
                options = []
                for t in tokens[i + 2 :]:
                    if t in SEPARATORS or Path(t).name == "omnirank":
                        break
                    if t.startswith("--"):
                        options.append(t.split("=", 1)[0])
                calls.append((tokens[i + 1], options))
    return calls


def env_names(text: str) -> set[str]:
    return set(re.findall(r"\b(OMNIRANK_[A-Z0-9_]+)\b", text))


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return shlex.join(command) if isinstance(command, list) else command


@pytest.fixture(scope="module")
def deploy_texts() -> dict[str, str]:
    texts = {p.name: p.read_text() for p in (DEPLOY / "Dockerfile", DEPLOY / "omnirank.service")}
    texts["compose.yaml"] = "\n".join(command_text(s) for s in compose()["services"].values())
    return texts


def test_every_omnirank_command_and_option_exists(deploy_texts):
    runner = CliRunner()
    seen = set()
    for name, text in deploy_texts.items():
        for command, options in omnirank_calls(text):
            seen.add(command)
            result = runner.invoke(app, [command, "--help"], terminal_width=200)
            assert result.exit_code == 0, f"{name}: omnirank {command} is not a command: {result.output}"
            for option in options:
                assert re.search(rf"{re.escape(option)}\b", result.output), (
                    f"{name}: omnirank {command} {option}"
                )
    assert {"serve", "train", "batch-recommend"} <= seen


def test_every_omnirank_variable_is_a_setting():
    fields = {f"OMNIRANK_{name.upper()}" for name in Settings.model_fields}
    for path in (DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", DEPLOY / "omnirank.service"):
        unknown = env_names(path.read_text()) - fields
        assert not unknown, f"{path.name} sets {sorted(unknown)}: not OMNIRANK_<field> of Settings"


def test_compose_runs_two_serve_replicas_on_postgres_with_a_shared_bundles_volume():
    services = compose()["services"]
    serve, nightly = services["serve"], services["nightly"]
    assert serve["deploy"]["replicas"] == 2
    assert serve["environment"]["OMNIRANK_STORE_URL"].startswith("postgresql://")
    assert "postgres" in services and services["postgres"]["image"].startswith("postgres")
    assert any(v.startswith("bundles:/bundles") for v in serve["volumes"])
    assert any(v.startswith("bundles:/bundles") for v in nightly["volumes"])
    assert serve["build"]["target"] == "serve" and nightly["build"]["target"] == "train"
    assert "--host 0.0.0.0" in command_text(serve)


def test_the_dockerfile_installs_existing_extras_and_the_serve_image_has_no_torch():
    text = (DEPLOY / "Dockerfile").read_text()
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    stages = dict(re.findall(r"(?ms)^FROM \S+ AS (\w+)\n(.*?)(?=^FROM |\Z)", text))
    assert {"source", "serve", "train"} <= set(stages)
    for stage, body in stages.items():
        for group in re.findall(r'pip install [^\n]*"\.\[([a-z,]+)\]"', body):
            assert set(group.split(",")) <= extras, f"{stage}: unknown extra in .[{group}]"
    assert (
        "torch" not in stages["serve"] and "train" not in re.findall(r"\.\[([a-z,]+)\]", stages["serve"])[0]
    )
    assert '".[train,postgres]"' in stages["train"]
    assert omnirank_calls(stages["serve"])[-1] == ("serve", ["--host", "--port"])


def test_ci_installs_the_train_extra_through_dev():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any("omnirank[train]" in d for d in extras["dev"])
    assert '-e ".[dev]"' in (REPO / ".ci" / "install").read_text()


def test_the_parser_finds_calls():
    text = "sh -c 'omnirank train --data /d --out /b && omnirank batch-recommend --campaign x; sleep 1'"
    assert omnirank_calls(text) == [("train", ["--data", "--out"]), ("batch-recommend", ["--campaign"])]
