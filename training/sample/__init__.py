"""Seeded omnichannel sample data: catalog, stores, customers, events, labelled queries, truth.

``generate_sample(out_dir, SampleConfig(...))`` writes the import format of ``models.schemas``;
``omnirank generate-sample`` is its command line.
"""

from training.sample.generate import SampleConfig, generate_sample

__all__ = ["SampleConfig", "generate_sample"]
