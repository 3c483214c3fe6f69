"""Nightly batch email personalisation (``omnirank batch-recommend``): select, score, write, resume."""
