"""Pydantic request and response models: the service's public contract (and its OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.schemas import CHANNELS

Channel = Literal["store", "web", "app", "email", "marketplace"]
assert set(Channel.__args__) == set(CHANNELS)  # one list of channels, checked at import


class Product(BaseModel):
    sku: str
    title: str
    brand: str | None = None
    category: str
    price: float = Field(description="The live price for the caller's channel and store (sales included).")
    list_price: float | None = Field(None, description="The price it is reduced from, when on sale.")
    color: str | None = None
    size: str | None = None
    stock_in_store: int | None = Field(None, description="Units on hand in the requested store.")
    url: str | None = Field(None, description="The product page on the shop; null when the catalog has none.")
    image_url: str | None = Field(
        None, description="The product's main image; null when the catalog has none."
    )


class SearchHitOut(BaseModel):
    product: Product
    score: float
    bm25: float
    dense: float
    matches: bool = Field(
        True, description="False after the relaxed_from marker: the result misses a stated constraint."
    )


class Answered(BaseModel):
    """What every search, suggest and recommendation answer carries for analytics and A/B tests."""

    request_id: str = Field(
        description="Quote it on the click, add_to_cart and purchase events this answer leads to "
        "(POST /v1/events): they are attributed to it. Also in the X-Request-ID header."
    )
    arm: Literal["A", "B"] = Field(description="The A/B arm that answered (A when no test runs).")


class SearchResponse(Answered):
    query: str
    total: int
    page: int
    k: int
    hits: list[SearchHitOut]
    intent: dict = Field(description="Structured intent parsed from the query (price, colour, target...).")
    intent_label: str = Field(
        description="Short label for the page, e.g. 'Footwear · under 50', in the reader's language."
    )
    language: str = Field(
        "en", description="The language of intent_label, relaxed and reasons (en, bn, hi, pt)."
    )
    low_confidence: bool = Field(
        False,
        description="The best result matches no word of the query and is only a weak neighbour by "
        "meaning: a guess, shown but not a success (counted with zero-result searches).",
    )
    applied_filters: dict
    facets: dict[str, dict[str, int]]
    did_you_mean: str | None = None
    relaxed: list[str] = Field(default_factory=list, description="What was relaxed to avoid an empty page.")
    relaxed_from: int | None = Field(
        None,
        description="Rank (0-based, over all pages) where results that miss a stated constraint (the "
        "category or recipient the query names) begin; null when every result satisfies them. "
        "`total` counts the results before it.",
    )
    personalised: bool = False
    rules_fired: list[str] = Field(
        default_factory=list, description="Ids of the merchandising rules applied."
    )
    redirect: str | None = Field(None, description="A merchandising rule sends this query to this page.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"query": "red running shoes under 50", "total": 12, "page": 1, "k": 20}]
        }
    )


class RecommendationOut(BaseModel):
    product: Product
    score: float
    reason_code: str
    reason: str


class RecommendationsResponse(Answered):
    items: list[RecommendationOut]
    cold_start: bool = False
    customer_id: str | None = None
    strategy: str


class CartRequest(BaseModel):
    skus: list[str] = Field(min_length=1, max_length=200)
    channel: Channel = "web"
    store_id: str | None = None
    k: int = Field(10, ge=1, le=100)


EventType = Literal[
    "view",
    "add_to_cart",
    "purchase",
    "return",
    "search",
    "search_click",
    "click",
    "email_send",
    "email_click",
]
"""The import format's event types (``models.schemas.EVENT_TYPES``; a test keeps them equal)."""


class EventIn(BaseModel):
    """One interaction, with the import format's fields (``data_samples/README.md``). At least one
    of customer_id, loyalty_id, email, phone or session_id must be valid, and no identifier that is
    given may be malformed. ``sku`` is required for every type but ``search`` and ``email_send``."""

    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(min_length=1, max_length=128, description="Unique per event: a retry reuses it.")
    type: EventType
    timestamp: datetime = Field(description="When it happened (ISO 8601; without a zone: UTC).")
    channel: Channel
    sku: str | None = Field(None, min_length=1, max_length=128)
    customer_id: str | None = Field(
        None, max_length=128, description="An opaque customer id (never an email)."
    )
    loyalty_id: str | None = Field(None, max_length=128)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=64)
    store_id: str | None = Field(None, max_length=64)
    quantity: int = Field(1, ge=1, le=10_000)
    price: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False, description="Unit price paid.")
    session_id: str | None = Field(
        None, max_length=128, description="Web/app session: a guest's events are kept under it."
    )
    basket_id: str | None = Field(None, max_length=128, description="Receipt or order id grouping lines.")
    query: str | None = Field(None, max_length=256, description="Search text (search, search_click).")
    campaign: str | None = Field(
        None, max_length=128, description="Email campaign (email_send, email_click)."
    )
    request_id: str | None = Field(
        None,
        max_length=128,
        description="The request_id of the omnirank answer that showed the product (search, suggest or "
        "recommendations): attributes the click, cart or purchase to that answer.",
    )
    position: int | None = Field(
        None, ge=1, le=1000, description="1-based rank of the product in that answer."
    )


MAX_EVENTS_PER_BATCH = 5000


class EventsIn(BaseModel):
    """The body of ``POST /v1/events``. Each event is validated on its own: a bad one is rejected
    with its index and reason, the others are stored (documentation model: the route reads the raw
    JSON so that one bad event cannot fail the batch)."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class RowRejection(BaseModel):
    index: int = Field(description="Position of the row in the request.")
    reason: str


class EventConflict(BaseModel):
    index: int = Field(description="Position of the event in the request.")
    event_id: str


class EventsResponse(BaseModel):
    accepted: int = Field(description="Events stored now.")
    duplicates: int = Field(
        description="Retries of events already stored with the same payload (not stored again)."
    )
    rejected: list[RowRejection] = Field(
        default_factory=list, description="Index and reason of each rejected event."
    )
    conflicts: list[EventConflict] = Field(
        default_factory=list,
        description="Events whose event_id is already stored (or earlier in the batch) with a different payload: "
        "not stored, the first version stays. Send a new event_id for a new event.",
    )


def inline_schema(model: type[BaseModel]) -> dict:
    """``model``'s JSON schema with its nested models written inline (no ``$defs``), so it can be
    put in an OpenAPI document as it is (``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: object) -> object:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[return-value]


def json_body(schema: dict, description: str = "") -> dict:
    """``openapi_extra`` declaring a JSON request body with this schema, for a route that reads the
    raw body itself (so that it can reject rows one by one instead of the whole request)."""
    body = {"required": True, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return {"requestBody": body}


def rows_body(model: type[BaseModel], max_rows: int) -> dict:
    """``openapi_extra`` for a body that is a JSON array of ``model`` rows, each validated on its own."""
    schema = {"type": "array", "minItems": 1, "maxItems": max_rows, "items": inline_schema(model)}
    return json_body(
        schema, f"1 to {max_rows} rows; each row is validated on its own, the bad ones are rejected by index."
    )


class TimelineEntry(BaseModel):
    timestamp: datetime
    type: str
    channel: str
    store_id: str | None = Field(None, description="The store of a POS event.")
    quantity: int = 1
    price_paid: float | None = Field(None, description="Unit price paid (purchases and returns).")
    product: Product


class Identifiers(BaseModel):
    """Whichever identifiers a customer gives (in a body, never in a URL)."""

    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(None, max_length=128)
    loyalty_id: str | None = Field(None, max_length=128)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=64)

    def identifiers(self) -> dict[str, str | None]:
        return {
            "customer_id": self.customer_id,
            "loyalty_id": self.loyalty_id,
            "email": self.email,
            "phone": self.phone,
        }


class CustomerLookup(Identifiers):
    """Who the associate is looking at: any identifiers the customer gives, and the store."""

    store_id: str | None = Field(None, description="The associate's store: offers are in stock here.")
    k: int = Field(10, ge=1, le=50)


class ConsentIn(Identifiers):
    """A marketing-email consent change, for whichever identifiers the customer gave."""

    email_consent: bool = Field(description="false: unsubscribe from marketing email; true: opt in.")
    at: datetime | None = Field(None, description="When the customer said so (default: now).")


class ConsentResponse(BaseModel):
    recorded: int = Field(description="Identifiers whose consent changed (an older statement never wins).")
    email_consent: bool


class LoyaltyOut(BaseModel):
    tier: str
    points: int | None = None
    joined: date | None = None
    next_tier: str | None = Field(None, description="The next tier up, when the tiers are configured.")
    facts: list[str] = Field(
        default_factory=list,
        description='What separates the member from the next tier ("3 purchases from Gold").',
    )


class ProfileResponse(Answered):
    customer_id: str
    masked_loyalty_id: str | None = None
    masked_email: str | None = None
    masked_phone: str | None = None
    top_categories: dict[str, float]
    timeline: list[TimelineEntry]
    offers: list[RecommendationOut]
    loyalty: LoyaltyOut | None = Field(
        None, description="The member's tier, points and joined date; null for a non-member."
    )


class Probe(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str = ""


class LiveStats(BaseModel):
    version: int = Field(description="Live version of stock, prices and products applied by this worker.")
    added_products: int
    changed_products: int
    discontinued_products: int
    stock_levels: int
    price_overrides: int


class RefusedBundle(BaseModel):
    path: str
    reason: str
    at: datetime


class Health(BaseModel):
    status: str
    bundle_version: str
    products: int = Field(description="Products in the live catalog (trained and added since).")
    components: list[str] = Field(description="What the served bundle answers: search, recommendations.")
    live: LiveStats
    refused_bundles: list[RefusedBundle] = Field(
        default_factory=list, description="Bundles this worker would not serve (newest last), and why."
    )


class ReloadResponse(BaseModel):
    status: Literal["loaded", "unchanged", "refused"]
    bundle_version: str = Field(description="The bundle served after the attempt.")
    detail: str = ""


WEB_LOCATIONS = ("web", "warehouse")
"""Locations meaning the web shop's own stock in ``PUT /v1/inventory``."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StockIn(_Row):
    store_id: str = Field(
        min_length=1, max_length=64, description="A store id, or 'web' / 'warehouse' for the web shop."
    )
    sku: str = Field(min_length=1, max_length=128)
    quantity: int = Field(ge=0, le=10_000_000, description="Units on hand now (absolute, not a delta).")


class LoyaltyIn(_Row):
    loyalty_id: str = Field(
        min_length=1, max_length=64, description="The card number (hashed, never stored raw)."
    )
    tier: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
    points: int | None = Field(None, ge=0, le=1_000_000_000, description="The points balance now.")
    joined: date | None = Field(None, description="When the member joined the programme.")


class PriceIn(_Row):
    sku: str = Field(min_length=1, max_length=128)
    price: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    list_price: float | None = Field(
        None, ge=0, le=1e9, allow_inf_nan=False, description="The price it is reduced from."
    )
    channel: Literal["store", "web", "app", "marketplace"] | None = None
    store_id: str | None = Field(None, min_length=1, max_length=64)
    tier: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="A member price: for members of this loyalty tier and above (any channel; a store_id narrows it)",
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @model_validator(mode="after")
    def _coherent(self) -> PriceIn:
        if self.tier is not None and self.channel is not None:
            raise ValueError("a member price (tier) applies in every channel: give tier or channel, not both")
        if self.list_price is not None and self.list_price < self.price:
            raise ValueError(f"list_price {self.list_price} is below price {self.price}")
        if self.valid_from and self.valid_to and _utc(self.valid_to) <= _utc(self.valid_from):
            raise ValueError("valid_to must be after valid_from")
        return self


class ProductIn(_Row):
    """A product as in the import format's products table (``data_samples/README.md``)."""

    sku: str = Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")
    title: str = Field(min_length=1, max_length=500)
    title_bn: str | None = Field(None, max_length=500, description="The name in Bengali (searched too).")
    title_hi: str | None = Field(None, max_length=500, description="The name in Hindi (searched too).")
    title_pt: str | None = Field(None, max_length=500, description="The name in Portuguese (searched too).")
    category: str = Field(min_length=1, max_length=300, description="Levels separated by ' > '.")
    price: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    description: str | None = Field(None, max_length=10_000)
    brand: str | None = Field(None, max_length=200)
    color: str | None = Field(None, max_length=64)
    size: str | None = Field(None, max_length=64)
    material: str | None = Field(None, max_length=64)
    target: Literal["men", "women", "kids", "unisex"] | None = None
    list_price: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)
    available_store: bool | None = None
    available_web: bool | None = None
    available_app: bool | None = None
    available_marketplace: bool | None = None
    replenishment_days: float | None = Field(None, gt=0, le=3650)
    member_tier_min: str | None = Field(
        None, min_length=1, max_length=40, description="Member-only: the lowest loyalty tier that may see it."
    )
    url: str | None = Field(
        None, max_length=2048, pattern=r"^https?://\S+$", description="The product page (absolute URL)."
    )
    image_url: str | None = Field(
        None, max_length=2048, pattern=r"^https?://\S+$", description="The main image (absolute URL)."
    )

    @model_validator(mode="after")
    def _coherent(self) -> ProductIn:
        if self.list_price is not None and self.list_price < self.price:
            raise ValueError(f"list_price {self.list_price} is below price {self.price}")
        return self


class LiveUpdateResponse(BaseModel):
    applied: int = Field(description="Rows stored and applied.")
    rejected: list[dict] = Field(default_factory=list, description="Index and reason of each rejected row.")
    version: int = Field(description="Live version that includes the applied rows.")


class StoreStock(BaseModel):
    store_id: str
    quantity: int


class Availability(BaseModel):
    sku: str
    stores: list[StoreStock] = Field(description="Stores with units on hand, most first.")
    web_quantity: int | None = Field(None, description="The web shop's stock, when it is reported.")
    channels: dict[str, bool] = Field(description="Where it can be bought now.")


class PriceDifference(BaseModel):
    sku: str
    title: str
    channels: dict[str, float] = Field(description="The price now in each channel that sells it.")
    stores: dict[str, float] = Field(description="Stores whose price differs from the store channel's.")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class SuggestionOut(BaseModel):
    text: str = Field(description="What to show (and search for) in the drop-down.")
    kind: Literal["query", "product", "category", "brand"]
    score: float
    sku: str | None = Field(None, description="For a product suggestion: the product it opens.")


class SuggestResponse(Answered):
    query: str
    suggestions: list[SuggestionOut]
