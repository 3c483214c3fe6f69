"""Settings: every field is read by the code, and the README's reference is the one the code renders."""

from __future__ import annotations

import re
from pathlib import Path

from models.config import SECTIONS, Settings, settings_reference

REPO = Path(__file__).resolve().parents[1]
PRODUCT_CODE = ("models", "service", "training")
READ = re.compile(r"\b(?:settings|cfg|s)\.([a-z_0-9]+)\b")


def test_every_setting_is_read_somewhere() -> None:
    """A field nothing reads is a knob that does nothing: remove it or wire it."""
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in PRODUCT_CODE
        for path in (REPO / folder).rglob("*.py")
        if path != REPO / "models" / "config.py"
    )
    read = set(READ.findall(source))
    assert sorted(set(Settings.model_fields) - read) == []


def test_every_field_is_in_exactly_one_section_and_described() -> None:
    owners: dict[str, list[str]] = {}
    for name, section in SECTIONS.items():
        for field_name, field in section.model_fields.items():
            owners.setdefault(field_name, []).append(name)
            assert field.description, f"{name}.{field_name} has no description"
    assert set(owners) == set(Settings.model_fields)
    assert {f: o for f, o in owners.items() if len(o) > 1} == {}


def test_readme_settings_reference_is_rendered_from_the_code() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(
        r"<!-- settings-reference:start -->\n(.*?)<!-- settings-reference:end -->", readme, re.S
    )
    assert block is not None, "README lost its settings-reference markers"
    assert block.group(1) == settings_reference(), (
        "README settings reference is stale; regenerate it with "
        "`python -c 'from models.config import settings_reference; print(settings_reference())'`"
    )


def test_environment_names_stay_flat(monkeypatch) -> None:
    monkeypatch.setenv("OMNIRANK_ALS_FACTORS", "12")
    monkeypatch.setenv("OMNIRANK_SEARCH_MIN_DENSE_SCORE", "0.5")
    settings = Settings()
    assert (settings.als_factors, settings.search_min_dense_score) == (12, 0.5)
