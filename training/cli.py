"""The ``omnirank`` command line.

Each subcommand parses settings at the entry point and calls one function of the pipeline;
``serve`` hands over to uvicorn by import string, so ``training`` never imports ``service``.
"""

from __future__ import annotations

import typer

from models.config import Settings

app = typer.Typer(
    name="omnirank",
    help="omnirank: search and recommendations for every channel of an omnichannel retailer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def settings() -> Settings:
    """Settings from the environment (``OMNIRANK_*``); the only place they are parsed."""
    return Settings()


if __name__ == "__main__":
    app()
