"""Query understanding: spelling, attribute/price/recipient extraction, category intent, synonyms."""

from models.query.category import CategoryClassifier
from models.query.parser import CategoryIntent, ParsedQuery, QueryParser
from models.query.spelling import SpellCorrector
from models.query.synonyms import SynonymSet
from models.query.understanding import QueryUnderstanding

__all__ = [
    "CategoryClassifier",
    "CategoryIntent",
    "ParsedQuery",
    "QueryParser",
    "QueryUnderstanding",
    "SpellCorrector",
    "SynonymSet",
]
