"""Pydantic request and response models: the service's public contract (and its OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.schemas import CHANNELS

Channel = Literal["store", "web", "app", "email", "marketplace"]
assert set(Channel.__args__) == set(CHANNELS)  # one list of channels, checked at import


class Product(BaseModel):
    sku: str
    title: str
    brand: str | None = None
    category: str
    price: float
    color: str | None = None
    size: str | None = None
    stock_in_store: int | None = Field(None, description="Units on hand in the requested store.")


class SearchHitOut(BaseModel):
    product: Product
    score: float
    bm25: float
    dense: float


class SearchResponse(BaseModel):
    query: str
    total: int
    page: int
    k: int
    hits: list[SearchHitOut]
    intent: dict = Field(description="Structured intent parsed from the query (price, colour, target...).")
    intent_label: str = Field(description="Short label for the page, e.g. 'Footwear · under 50'.")
    applied_filters: dict
    facets: dict[str, dict[str, int]]
    did_you_mean: str | None = None
    relaxed: list[str] = Field(default_factory=list, description="What was relaxed to avoid an empty page.")
    personalised: bool = False
    rules_fired: list[str] = Field(default_factory=list, description="Ids of the merchandising rules applied.")
    redirect: str | None = Field(None, description="A merchandising rule sends this query to this page.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"query": "red running shoes under 50", "total": 12, "page": 1, "k": 20}]}
    )


class RecommendationOut(BaseModel):
    product: Product
    score: float
    reason_code: str
    reason: str


class RecommendationsResponse(BaseModel):
    items: list[RecommendationOut]
    cold_start: bool = False
    customer_id: str | None = None
    strategy: str


class CartRequest(BaseModel):
    skus: list[str] = Field(min_length=1, max_length=200)
    channel: Channel = "web"
    store_id: str | None = None
    k: int = Field(10, ge=1, le=100)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(min_length=1, max_length=128)
    type: Literal["view", "add_to_cart", "purchase", "return", "search_click", "email_click"]
    timestamp: datetime
    channel: Channel
    sku: str = Field(min_length=1, max_length=128)
    customer_id: str | None = None
    loyalty_id: str | None = None
    email: str | None = None
    phone: str | None = None
    store_id: str | None = None
    quantity: int = Field(1, ge=1, le=10_000)
    price: float | None = Field(None, ge=0)


class EventsResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[dict] = Field(default_factory=list, description="Index and reason of each rejected event.")


class TimelineEntry(BaseModel):
    timestamp: datetime
    type: str
    channel: str
    store_id: str | None = None
    product: Product


class ProfileResponse(BaseModel):
    customer_id: str
    masked_loyalty_id: str | None = None
    masked_email: str | None = None
    masked_phone: str | None = None
    top_categories: dict[str, float]
    timeline: list[TimelineEntry]
    offers: list[RecommendationOut]


class Health(BaseModel):
    status: str
    bundle_version: str
    products: int
    components: list[str] = Field(description="What the served bundle answers: search, recommendations.")


class SuggestionOut(BaseModel):
    text: str = Field(description="What to show (and search for) in the drop-down.")
    kind: Literal["query", "product", "category", "brand"]
    score: float
    sku: str | None = Field(None, description="For a product suggestion: the product it opens.")


class SuggestResponse(BaseModel):
    query: str
    suggestions: list[SuggestionOut]
