"""The query-understanding bundle: parser (with spelling) + category classifier + synonyms.

Fitted once by the training pipeline and loaded by the service from the bundle directory, so
both sides parse a query identically.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from models.query.category import CategoryClassifier
from models.query.parser import CategoryIntent, ParsedQuery, QueryParser
from models.query.synonyms import SynonymSet
from models.query.translate import QueryTranslator, Translation
from models.text import clean

_FILE = "query_understanding.json"


def product_training_texts(products: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(text, category) examples from the catalog: one short (title, brand, category words) and one
    from the description, because queries look like titles more than like descriptions but say
    what a product is *for* ("keep coffee hot") the way descriptions do."""
    if "category" not in products.columns:
        raise ValueError("products need a 'category' column to train the category classifier")
    texts: list[str] = []
    labels: list[str] = []
    for row in products.itertuples(index=False):
        category = clean(getattr(row, "category", ""))
        if not category:
            continue
        words = category.replace(">", " ")
        title = clean(getattr(row, "title", ""))
        brand = clean(getattr(row, "brand", ""))
        texts.append(f"{title} {brand} {words}".strip())
        labels.append(category)
        description = clean(getattr(row, "description", ""))
        if description:
            texts.append(f"{title} {description}"[:400])
            labels.append(category)
    return texts, labels


def classifier_text(text: str, translation: Translation) -> str:
    """What the category classifier reads: the (translated) text, and the query's own script words."""
    return f"{text} {translation.native}".strip() if translation.native else text


class QueryUnderstanding:
    """Query -> ParsedQuery with spelling, attribute extraction, category intent and synonym rewrites."""

    def __init__(
        self,
        category_threshold: float = 0.5,
        query_weight: float = 2.0,
        parser: QueryParser | None = None,
        classifier: CategoryClassifier | None = None,
        synonyms: SynonymSet | None = None,
        translator: QueryTranslator | None = None,
    ) -> None:
        self.category_threshold = category_threshold
        self.query_weight = query_weight
        self.parser = parser or QueryParser()
        self.classifier = classifier or CategoryClassifier()
        self.synonyms = synonyms or SynonymSet()
        self.translator = translator or QueryTranslator()

    def fit(
        self,
        products: pd.DataFrame,
        query_log: Sequence[str] | None = None,
        query_categories: Sequence[tuple[str, str]] | None = None,
    ) -> QueryUnderstanding:
        """Fit parser vocabularies + spelling (catalog, query log) and the category classifier
        (catalog texts plus logged (query, clicked category) pairs, weighted ``query_weight``)."""
        self.parser_ = self.parser.fit(products, list(query_log) if query_log is not None else None)
        self.translator_ = self.translator.fit(
            QueryTranslator.catalog_vocabulary(
                text
                for c in ("title", "brand", "category", "color", "material")
                if c in products.columns
                for text in products[c].dropna().astype(str).str.replace(">", " ")
            )
        )
        texts, labels = product_training_texts(products)
        weights = [1.0] * len(texts)
        # Repeated (query, category) pairs collapse into one weighted row: the same logistic loss,
        # a fraction of the rows (logs repeat popular queries thousands of times).
        # logged queries are read as they will be served: Bengali and Hindi in the catalog's English
        pairs = Counter(
            (classifier_text(*self._translated(clean(q))), clean(c)) for q, c in (query_categories or ())
        )
        for (query, category), count in sorted(pairs.items()):
            if query and category:
                texts.append(query)
                labels.append(category)
                weights.append(self.query_weight * count)
        if not texts:
            raise ValueError("no product has a category: cannot train the category classifier")
        self.classifier_ = self.classifier.fit(texts, labels, sample_weight=weights)
        self.synonyms_ = self.synonyms
        return self

    def _translated(self, query: str) -> tuple[str, Translation]:
        translation = self.translator_.translate(query)
        return (translation.text if translation.translated else query), translation

    def parse(self, query: str) -> ParsedQuery:
        """Parse, then add the category intent (on the cleaned text) and synonym expansions."""
        if not hasattr(self, "parser_"):
            raise RuntimeError("QueryUnderstanding is not fitted: call fit() or load() first")
        translation = self.translator_.translate(query)
        parsed = self.parser_.parse(translation.text if translation.translated else query)
        if translation.translated:
            parsed.query = query[: self.parser_.max_query_chars]
            parsed.language = translation.language
            parsed.translated = translation.text
            parsed.kept = translation.kept
        # No category from a query that is all constraints ("gift under 50"): nothing to classify.
        # A translated query is classified on its English and on the words as typed, the way the
        # logged queries were learned (a word the translation missed still names a category).
        if parsed.text or translation.native:
            path, confidence = self.classifier_.top(classifier_text(parsed.text, translation))
            parsed.category = CategoryIntent(
                path=path, confidence=round(confidence, 6), applied=confidence >= self.category_threshold
            )
        parsed.expansions = self.synonyms_.expand(parsed.text) if parsed.text else []
        parsed.explain = parsed.build_explain()
        return parsed

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> list[Path]:
        """Write JSON + .npz files into ``directory`` (a bundle subfolder); returns the paths written."""
        if not hasattr(self, "parser_"):
            raise RuntimeError("QueryUnderstanding is not fitted: nothing to save")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta: Mapping[str, Any] = {
            "category_threshold": self.category_threshold,
            "query_weight": self.query_weight,
        }
        (d / _FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return [
            d / _FILE,
            *self.parser_.save(d),
            *self.classifier_.save(d),
            self.translator_.save(d),
            self.synonyms_.save(d),
        ]

    @classmethod
    def load(cls, directory: str | Path, category_threshold: float | None = None) -> QueryUnderstanding:
        """Load from ``directory``; ``category_threshold`` (Settings) overrides the saved one."""
        d = Path(directory)
        if not (d / _FILE).is_file():
            raise FileNotFoundError(f"no query-understanding model at {d / _FILE}")
        meta = json.loads((d / _FILE).read_text(encoding="utf-8"))
        obj = cls(
            category_threshold=meta["category_threshold"]
            if category_threshold is None
            else category_threshold,
            query_weight=meta["query_weight"],
        )
        obj.parser_ = obj.parser = QueryParser.load(d)
        obj.classifier_ = obj.classifier = CategoryClassifier.load(d)
        obj.synonyms_ = obj.synonyms = SynonymSet.load(d)
        if QueryTranslator.saved_in(d):
            obj.translator_ = obj.translator = QueryTranslator.load(d)
        else:  # a bundle trained before the translator: its catalog words are the speller's
            speller = obj.parser_.speller_
            obj.translator_ = obj.translator = QueryTranslator().fit(
                speller.frequencies_ if speller is not None else {}
            )
        return obj
