"""Import shim: the query-understanding code lives in the ``models.query`` package."""

from models.query import (
    CategoryClassifier,
    CategoryIntent,
    ParsedQuery,
    QueryParser,
    QueryUnderstanding,
    SpellCorrector,
    SynonymSet,
)

__all__ = [
    "CategoryClassifier",
    "CategoryIntent",
    "ParsedQuery",
    "QueryParser",
    "QueryUnderstanding",
    "SpellCorrector",
    "SynonymSet",
]
