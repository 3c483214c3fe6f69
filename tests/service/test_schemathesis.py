"""The OpenAPI schema is the contract: schemathesis calls every operation with generated requests (valid
and invalid) through the ASGI app, with an admin key, and checks that no answer is a 5xx and that every
answer (status, content type, headers, body) is one the schema describes.

Not checked here: whether a schema-valid request is always accepted (a valid-looking sku may be unknown:
404) or an invalid event always refused (a batch is validated per event: one bad event among good ones
still gets 202). Those are the routes' documented behaviour, tested in their own files.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from models.config import Settings
from service.app import create_app

ADMIN_KEY = "schemathesis-admin-key-0123456789"
HEADERS = {"X-API-Key": ADMIN_KEY}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}  # per operation: enough for CI


@pytest.fixture(scope="module")
def api_schema(service_settings, tmp_path_factory):
    """The app with its own store and rules file and a real admin key (no dev mode); schemathesis
    starts its lifespan on the first request and stops it here."""
    state = tmp_path_factory.mktemp("schemathesis")
    app = create_app(
        service_settings.model_copy(
            update={
                "event_store_path": state / "events.sqlite3",
                "rules_path": state / "rules.json",
                "dev_mode": False,
                "admin_key": SecretStr(ADMIN_KEY),
                "reload_poll_seconds": 0,
            }
        )
    )
    config = SchemathesisConfig.from_dict(
        {
            "headers": HEADERS,
            "generation": {
                "mode": "all",
                "with-security-parameters": False,  # random keys would only ever reach the 401
                "database": "none",
            },
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        }
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    asgi.shutdown_lifespans()


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the schema, read from an app that is never started (no bundle needed),
    so that each operation is a test of its own. (schemathesis' own pytest integration,
    ``schemathesis.pytest.from_fixture``, does not run under pytest 9: it sets ``Node._nodeid``.)"""
    paths = create_app(Settings(dev_mode=True)).openapi()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_as_its_schema_says(api_schema, method: str, path: str) -> None:
    operation = api_schema[path][method]
    for mode in GenerationMode:
        strategy = operation.as_strategy(generation_mode=mode, headers=HEADERS)

        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case) -> None:
            case.call_and_validate(headers=HEADERS, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise  # no operation is without a valid request; only some cannot be made invalid
