"""A Lucene-class reference retriever: a tantivy index (Rust's Lucene-style engine) over product titles.

(or several text fields: each is its own tantivy field, a query word matches in any of them)

English stemming (tantivy's ``en_stem``: split on non-alphanumerics, lowercase, Snowball English
stemmer), BM25 scoring (k1 1.2, b 0.75, tantivy's defaults), the query's words OR'ed. What a retailer
gets from an off-the-shelf search engine with no tuning: the bar the served stack should clear.

The query is rebuilt from its words (letters and digits, lowercased), so no query-parser syntax a
shopper types (``"AND ( ] :``) reaches the parser: such a query is its words, or no hits.

Benchmarks only: never imported by ``service/`` or ``training/``; needs ``tantivy`` (the ``bench`` extra).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

_WORD = re.compile(r"[^\W_]+")  # runs of letters/digits: what en_stem's tokenizer keeps anyway


class TantivyIndex:
    """An in-memory tantivy index of ``docs`` (one document each, numbered by position), each a
    mapping of ``fields`` to text (missing or non-text values are empty)."""

    def __init__(
        self,
        docs: Sequence[Mapping[str, object]],
        fields: Sequence[str] = ("title",),
        heap_bytes: int = 64 << 20,
    ) -> None:
        import tantivy

        builder = tantivy.SchemaBuilder()
        for name in fields:
            builder.add_text_field(name, stored=False, tokenizer_name="en_stem")
        builder.add_unsigned_field("item", stored=True, indexed=False)
        self.fields = list(fields)
        self.index = tantivy.Index(builder.build())
        writer = self.index.writer(heap_size=heap_bytes, num_threads=1)
        for item, doc in enumerate(docs):
            text = {f: v if isinstance(v := doc.get(f), str) else "" for f in self.fields}
            writer.add_document(tantivy.Document(item=item, **text))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        self.n_docs = len(docs)

    @staticmethod
    def query_text(query: str) -> str:
        """``query`` as plain OR'ed words: no operator, quote, bracket, field or boost survives."""
        return " OR ".join(w.lower() for w in _WORD.findall(query))

    def search(self, query: str, k: int = 100) -> list[int]:
        """Positions of the top ``k`` documents by BM25 (best first); [] when no word matches."""
        text = self.query_text(query)
        if not text:
            return []
        parsed = self.index.parse_query(text, self.fields)
        hits = self.searcher.search(parsed, limit=k).hits
        return [self.searcher.doc(address)["item"][0] for _, address in hits]


def tantivy_method(products: pd.DataFrame, fields: Sequence[str] = ("title",), k: int = 100):
    """An ``evaluate_search`` method (queries -> ranked sku lists) over a tantivy index of the
    ``fields`` of ``products`` (a catalog table with a ``sku`` column)."""
    index = TantivyIndex(products[list(fields)].to_dict("records"), fields)
    skus = products["sku"].astype(str).tolist()

    def method(queries) -> list[list[str]]:
        return [[skus[i] for i in index.search(q.text, k)] for q in queries]

    return method
