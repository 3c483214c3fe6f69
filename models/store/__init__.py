"""The live store: events and live catalog state (stock, prices, products, identity links).

Both sides read it: the service writes and reads it on every request; training and batch jobs read
it as input besides ``--data``. SQLite (WAL) is the embedded default; ``OMNIRANK_STORE_URL`` puts it on
PostgreSQL (``models/store/dialect.py``) for several replicas.
"""

from models.store.dialect import store_location
from models.store.keys import SCOPES, ApiKey, KeyRequestError
from models.store.live_tables import LiveChanges, PriceEntry, ProductRecord, StockLevel
from models.store.sqlite import AppendResult, LiveStore, StoredEvent

__all__ = [
    "SCOPES",
    "ApiKey",
    "KeyRequestError",
    "AppendResult",
    "LiveChanges",
    "LiveStore",
    "PriceEntry",
    "ProductRecord",
    "StockLevel",
    "StoredEvent",
    "store_location",
]
