"""Properties of the code that reads what strangers write: any text parses, any rules document is
accepted or refused with a validation error, any import row is kept or quarantined with a reason.

Hypothesis generates the input; each property runs a bounded number of examples (a few seconds).
"""

from __future__ import annotations

import json
import string
import tempfile
from datetime import timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from models import schemas
from models.query.parser import ParsedQuery, QueryParser
from models.rules import ATTRIBUTES, RuleLimits, RuleSet, rule_limits
from training.ingest import Quarantine, _ingest_events, _validate_products, read_table

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples"
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- the query parser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    products = pd.read_parquet(SAMPLE / "products.parquet")
    return QueryParser().fit(products, query_log=["red running shoes", "gift for dad under 50"])


WORDS = st.sampled_from(
    ["under", "over", "between", "and", "to", "-", "$", "R$", "₹", "50", "1,000", "1.5", "até", "से", "तक", "size", "xl",
     "red", "vermelho", "लाल", "for", "men", "women", "kids", "gift", "cheap", "premium", "nike", "&", "'", "  "]
)  # fmt: skip
QUERIES = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80),
    st.lists(WORDS, max_size=60).map(" ".join),
    st.lists(st.sampled_from(["1", "0", ",", ".", "-", " ", "5", "$"]), max_size=400).map("".join),
)


@FAST
@given(query=QUERIES)
def test_any_text_parses_without_error(parser: QueryParser, query: str) -> None:
    # how fast such text parses (catastrophic backtracking) is measured by benchmarks/bench_search.py
    parsed = parser.parse(query)
    assert isinstance(parsed, ParsedQuery)
    assert parsed.query == query[: parser.max_query_chars]
    assert parsed.price_min is None or parsed.price_min >= 0
    json.dumps(parsed.model_dump())  # what the service returns as the intent


# --- the merchandising rules validator ------------------------------------------------------------------

JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["drill", "red shoes", "gift", "", "  ", "/", "a b c d e f g h i j"]),
    st.sampled_from(["a\ud800", "\udfff", "x\ud834 y"]),  # lone surrogates: valid JSON escapes, not UTF-8
)
SKU = st.one_of(st.sampled_from(["SKU-1", "SKU-2", " ", ""]), st.text(max_size=140))
URL = st.one_of(
    st.sampled_from(["/pages/x", "//evil.example", "https://shop.example/p", "https://evil.example/", "http://shop.example/",
                     "javascript:alert(1)", "/\\evil.example", "https://user@shop.example/", "https://[::1", "https:///x"]),
    st.text(max_size=50),
)  # fmt: skip


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(strategy, JUNK)


ADJUST = st.dictionaries(
    st.sampled_from(["brand", "category", "attribute", "value", "factor", "other"]),
    _maybe(st.one_of(TEXT, st.sampled_from(ATTRIBUTES), st.floats(0, 200))),
    max_size=4,
)
RULE = st.dictionaries(
    st.sampled_from(
        ["id", "description", "enabled", "match", "pin", "boost", "bury", "hide", "redirect", "extra"]
    ),
    st.one_of(
        TEXT,
        st.fixed_dictionaries({}, optional={"exact": _maybe(TEXT), "contains": _maybe(TEXT)}),
        st.lists(
            st.fixed_dictionaries(
                {}, optional={"sku": _maybe(SKU), "position": _maybe(st.integers(-5, 2000))}
            ),
            max_size=4,
        ),
        st.lists(ADJUST, max_size=4),
        st.lists(_maybe(SKU), max_size=4),
        URL,
        JUNK,
    ),
    max_size=8,
).map(lambda d: {"id": "r1", "match": {"exact": "drill"}, **d} if "id" not in d else d)
SYNONYMS = st.fixed_dictionaries(
    {},
    optional={
        "two_way": _maybe(st.lists(st.lists(_maybe(TEXT), max_size=4), max_size=4)),
        "one_way": _maybe(st.dictionaries(TEXT, st.lists(_maybe(TEXT), max_size=3), max_size=3)),
        "max_expansions": _maybe(st.integers(-3, 30)),
    },
)
DOCUMENT = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "version": _maybe(st.integers(0, 3)),
            "synonyms": _maybe(SYNONYMS),
            "rules": _maybe(st.lists(RULE, max_size=6)),
        },
    ),
    JUNK,
)
LIMITS = st.one_of(
    st.none(), st.builds(RuleLimits.of, st.integers(1, 10), st.sampled_from([[], ["shop.example"]]))
)


@FAST
@given(document=DOCUMENT, limits=LIMITS)
def test_any_rules_document_validates_or_raises_a_validation_error(
    document: object, limits: RuleLimits | None
) -> None:
    with rule_limits(limits):
        try:
            rules = RuleSet.model_validate(document)
        except ValidationError:
            return
    again = RuleSet.model_validate_json(
        rules.to_json().encode("utf-8")
    )  # what the service saves, it reads back
    assert again.model_dump() == rules.model_dump()
    if limits is not None:
        assert len(rules.rules) <= limits.max_rules
    for rule in rules.rules:
        redirect = rule.redirect
        assert (
            redirect is None
            or (redirect.startswith("/") and not redirect.startswith("//"))
            or redirect.startswith("https://")
        )
        rules.fired(rule.match.exact or rule.match.contains or "")
    rules.expand("red drill gift")


# --- the import readers -----------------------------------------------------------------------------------

_KNOWN_SKUS = ["SKU-1", "SKU-2", "SKU-3"]
_KNOWN_STORES = ["ST-1", "ST-2"]
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
EVENT_VALUES = {
    "event_id": st.one_of(st.sampled_from(["e1", "e2", "e3", " ", ""]), st.text(max_size=10)),
    "type": st.one_of(st.sampled_from(schemas.EVENT_TYPES), st.text(max_size=10)),
    "timestamp": st.one_of(
        st.sampled_from(
            ["2026-10-01T10:00:00Z", "2026-10-01T10:00:00", "2026-13-45T99:00:00Z", "yesterday", "0", "1e30"]
        ),
        st.datetimes().map(lambda d: d.isoformat()),
        st.integers(),
    ),
    "channel": st.one_of(st.sampled_from(schemas.CHANNELS), st.text(max_size=8)),
    "sku": st.one_of(st.sampled_from([*_KNOWN_SKUS, "NOPE"]), st.text(max_size=8)),
    "quantity": st.one_of(st.integers(-3, 10**20), st.floats(), st.text(max_size=5)),
    "price": st.one_of(st.floats(), st.integers(-10, 10**20), st.text(max_size=5)),
    "store_id": st.one_of(st.sampled_from([*_KNOWN_STORES, "ST-X"]), st.text(max_size=5)),
    "loyalty_id": st.one_of(st.sampled_from(["LYABC12345", " ", "x"]), st.text(max_size=12)),
    "email": st.one_of(
        st.sampled_from(["ana@example.com", "jane.doe@gmail", "@", " "]), st.text(max_size=12)
    ),
    "phone": st.one_of(st.sampled_from(["+55 11 91234-5678", "12", " "]), st.text(max_size=12)),
}
EVENT = st.fixed_dictionaries({}, optional={k: st.one_of(v, ANY_JSON) for k, v in EVENT_VALUES.items()})
LINE = st.one_of(
    EVENT.map(json.dumps),
    st.text(alphabet=st.characters(exclude_characters="\r\n"), max_size=40),
    st.sampled_from(["{", "[]", "null", '{"event_id": "e1"', "42"]),
)


@pytest.fixture(scope="module")
def no_memory_release():
    """Ingest gives memory back to the OS between batches (a full ``gc.collect``, 0.1 s here): right
    for 20M events, pure cost for 20."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.ingest.release_unused_memory", lambda: None)
        yield


@settings(FAST, max_examples=40)
@given(lines=st.lists(LINE, min_size=1, max_size=25), batch_size=st.sampled_from([9, 1000]))
def test_every_imported_event_line_is_kept_or_quarantined_with_a_reason(
    no_memory_release, lines: list[str], batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        quarantine = Quarantine(data / "quarantine.jsonl")
        try:
            kept = _ingest_events(
                data,
                pa.array(_KNOWN_SKUS, pa.string()),
                pa.array(_KNOWN_STORES, pa.string()),
                quarantine,
                batch_size,
            )
        finally:
            quarantine.close()
        rejected = [
            json.loads(line) for line in (data / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
        ]
    expected = sum(1 for line in lines if line.strip())
    assert len(kept) + len(rejected) == expected
    assert all(r["table"] == "events" and isinstance(r["reason"], str) and r["reason"] for r in rejected)
    if len(kept):
        assert set(kept["type"].astype(str)) <= set(schemas.EVENT_TYPES)
        assert set(kept["sku"].dropna().astype(str)) <= set(_KNOWN_SKUS)
        assert (kept["quantity"] > 0).all() and not kept["event_id"].duplicated().any()


def _column(field: pa.Field, n: int) -> st.SearchStrategy:
    if field.type == pa.float64():
        value = st.one_of(st.none(), st.floats(), st.sampled_from([0.0, -1.0, 19.9]))
    elif field.type == pa.bool_():
        value = st.one_of(st.none(), st.booleans())
    elif pa.types.is_timestamp(field.type):
        value = st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc)))
    elif field.name == "target":
        value = st.one_of(st.none(), st.sampled_from([*schemas.TARGETS, "aliens", " "]), st.text(max_size=5))
    elif field.name == "sku":
        value = st.one_of(st.none(), st.sampled_from(["SKU-1", "SKU-2", " ", ""]), st.text(max_size=6))
    else:
        value = st.one_of(
            st.none(), st.text(max_size=20), st.sampled_from([" ", "", "Footwear > Running Shoes"])
        )
    return st.lists(value, min_size=n, max_size=n)


@st.composite
def product_tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(1, 20))
    columns = [
        f for f in schemas.PRODUCTS.schema if f.name in schemas.PRODUCTS.required or draw(st.booleans())
    ]
    arrays = {f.name: pa.array(draw(_column(f, n)), f.type) for f in columns}
    return pa.table(arrays)


@settings(FAST, max_examples=50)
@given(table=product_tables())
def test_every_imported_product_row_is_kept_or_quarantined_with_a_reason(table: pa.Table) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        pq.write_table(table, data / "products.parquet")
        quarantine = Quarantine(data / "quarantine.jsonl")
        try:
            kept = _validate_products(read_table(data, "products"), quarantine)
        finally:
            quarantine.close()
        rejected = [
            json.loads(line) for line in (data / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
        ]
    assert len(kept) + len(rejected) == table.num_rows
    assert all(r["table"] == "products" and r["reason"] for r in rejected)
    if len(kept):
        assert not kept["sku"].duplicated().any()
        assert (kept["price"] >= 0).all() and not kept["price"].isna().any()
        for name in schemas.PRODUCTS.required:
            assert not kept[name].isna().any()
        assert set(kept["sku"]).isdisjoint({"", *string.whitespace})
        assert np.isin(kept["target"].dropna(), list(schemas.TARGETS)).all()
