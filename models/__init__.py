"""Code shared by the offline pipeline (`training/`) and the online service (`service/`).

Nothing here knows about HTTP or training schedules: schemas of the import format, the bundle
format, encoders, retrievers, rankers, recommenders and metrics.
"""
