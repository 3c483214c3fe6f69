"""Training wall time per stage and peak memory: does ``omnirank train`` fit the 2-minute budget?

Runs the real pipeline (``training.pipeline.train``, the same function ``omnirank train`` calls) in a
child process, so its peak RSS is the training's own, and reads the per-stage timings the pipeline
records in the bundle manifest (``metrics.stage_seconds``). Baseline in the same run: ingest and
validation alone (``training.ingest.ingest``), the floor any training run pays to read the data.

``--customers N`` first generates a larger dataset with ``omnirank generate-sample`` (cached under
var/cache/bench): realistic, but about 2 h per million people on 2 cores. ``--scale-customers N``
generates one with the vectorised ``scale_data`` generator instead (``--scale-products`` items,
``--events-per-customer`` events each; 1M customers / 20M events in a few minutes), for the
1M-customer / 20M-event target (20 minutes, 8 GB). The result JSON also carries a linear per-event
extrapolation to ``--extrapolate-events``.

Run: ``.venv/bin/python benchmarks/bench_train.py`` (2-4 minutes on 2 cores),
``--customers 30000`` for a larger realistic sample, or ``--scale-customers 1000000 --no-baseline``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, REPO, console, machine_info, print_table, verdict, write_result  # noqa: E402

TRAIN_TARGET_S = 120.0
SCALE_TARGET_S = 20 * 60.0
SCALE_TARGET_RSS_MB = 8 * 1024.0

_CHILD_TRAIN = """
import json, sys, time
from pathlib import Path
from models.config import Settings
from training.pipeline import train
start = time.perf_counter()
path = train(Path(sys.argv[1]), Path(sys.argv[2]), Settings(), evaluate=sys.argv[3] == "1")
print(json.dumps({"bundle": str(path), "seconds": time.perf_counter() - start}))
"""

_CHILD_INGEST = """
import json, sys, time, tempfile
from pathlib import Path
from training import ingest
start = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    data = ingest.ingest(Path(sys.argv[1]), Path(tmp) / "quarantine.jsonl")
    report = data.report()
print(json.dumps({"seconds": time.perf_counter() - start, "events": int(len(data.events)), "report": report}, default=str))
"""


def run_child(code: str, *argv: str) -> tuple[dict[str, Any], float, float]:
    """Run ``code`` in a fresh interpreter; returns (its last JSON line, wall seconds, peak RSS MiB).

    Peak RSS comes from ``wait4`` on that one child, so other processes never count.
    """
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO, env=env, stdout=subprocess.PIPE)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(
            f"child failed with status {os.waitstatus_to_exitcode(status)}; output: {out[-2000:]}"
        )
    last = [line for line in out.splitlines() if line.startswith("{")][-1]
    return json.loads(last), wall, usage.ru_maxrss / 1024


def dataset(args: argparse.Namespace) -> Path:
    """The sample data, or a generated one of ``--customers`` / ``--scale-customers`` people (cached)."""
    if args.scale_customers:
        return scale_dataset(args)
    if not args.customers:
        return args.data
    out = CACHE / f"data-c{args.customers}-p{args.products}-m{args.months}-s{args.seed}"
    if not (out / "done").exists():
        console.print(f"[cyan]▶ generating {args.customers:,} customers into {out}[/]")
        cli = Path(sys.executable).with_name("omnirank")
        cmd = [
            str(cli),
            "generate-sample",
            "--customers",
            str(args.customers),
            "--products",
            str(args.products),
        ]
        cmd += ["--months", str(args.months), "--seed", str(args.seed), "--out", str(out)]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        (out / "done").write_text(f"{time.perf_counter() - start:.1f}")
    return out


def scale_dataset(args: argparse.Namespace) -> Path:
    """The vectorised generator's dataset of ``--scale-customers`` people, generated once into the cache."""
    import scale_data

    spec = scale_data.ScaleSpec(
        customers=args.scale_customers,
        products=args.scale_products,
        events_per_customer=args.events_per_customer,
        months=args.months,
        seed=args.seed,
    )
    out = CACHE / spec.key()
    if not (out / "done").exists():
        console.print(f"[cyan]▶ generating {spec.customers:,} customers (vectorised) into {out}[/]")
        counts = scale_data.generate(spec, out)
        (out / "done").write_text(json.dumps(counts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO / "data_samples",
        help="import-format directory (when --customers is not given)",
    )
    parser.add_argument(
        "--customers",
        type=int,
        default=0,
        help="generate a dataset of this many customers first (0: use --data)",
    )
    parser.add_argument(
        "--scale-customers",
        type=int,
        default=0,
        help="generate this many customers with the fast vectorised generator (scale_data.py) first",
    )
    parser.add_argument(
        "--scale-products", type=int, default=20_000, help="catalog size for --scale-customers"
    )
    parser.add_argument(
        "--events-per-customer", type=float, default=20.0, help="mean events per person for --scale-customers"
    )
    parser.add_argument("--products", type=int, default=3200, help="catalog size of a generated dataset")
    parser.add_argument("--months", type=int, default=7, help="months of events of a generated dataset")
    parser.add_argument("--seed", type=int, default=42, help="seed of a generated dataset")
    parser.add_argument("--no-evaluate", action="store_true", help="train without the evaluation stages")
    parser.add_argument("--no-baseline", action="store_true", help="skip the ingest-only baseline")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="publish the bundle under this bundles dir (default: a temp dir, removed)",
    )
    parser.add_argument(
        "--extrapolate-events", type=int, default=20_000_000, help="event count to extrapolate the timings to"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default benchmarks/results/train[_cN].json)"
    )
    args = parser.parse_args()

    machine = machine_info()
    data = dataset(args)
    rows: list[list[Any]] = []
    result: dict[str, Any] = {
        "machine": machine,
        "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "data": str(data),
    }
    if not args.no_baseline:
        console.print("[cyan]▶ baseline: ingest and validate only[/]")
        base, wall, peak = run_child(_CHILD_INGEST, str(data))
        result["baseline_ingest"] = {
            "seconds": base["seconds"],
            "wall_s": wall,
            "peak_rss_mb": peak,
            "events": base["events"],
        }
        rows.append(["baseline: ingest + validate only", wall, peak, None, None, "-"])
    bundles = args.keep or Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        console.print(f"[cyan]▶ training on {data} (evaluate={not args.no_evaluate})[/]")
        child, wall, peak = run_child(_CHILD_TRAIN, str(data), str(bundles), "0" if args.no_evaluate else "1")
        manifest = json.loads((Path(child["bundle"]) / "manifest.json").read_text())
    finally:
        if args.keep is None:
            shutil.rmtree(bundles, ignore_errors=True)
    stages = manifest["metrics"]["stage_seconds"]
    n_events = manifest["metrics"].get("ingest", {}).get("rows", {}).get("events") or result.get(
        "baseline_ingest", {}
    ).get("events")
    target_s = SCALE_TARGET_S if args.scale_customers else TRAIN_TARGET_S
    target_rss = SCALE_TARGET_RSS_MB if args.scale_customers else None
    ok = (
        verdict(wall, target_s)
        if target_rss is None
        else min(verdict(wall, target_s), verdict(peak, target_rss))
    )
    rows.append(["omnirank train (whole run, child process)", wall, peak, target_s, target_rss, ok])
    print_table(
        f"training on {data.name} (load avg at start {machine['loadavg_start']}, {machine['cpus']} cpus)",
        ["run", "wall s", "peak RSS MiB", "target s", "target MiB", "verdict"],
        rows,
    )
    print_table(
        "stage seconds (manifest metrics.stage_seconds)",
        ["stage", "seconds", "share"],
        [[k, v, f"{100 * v / sum(stages.values()):.0f}%"] for k, v in stages.items()],
    )
    result.update(
        {
            "train": {
                "wall_s": wall,
                "in_process_s": child["seconds"],
                "peak_rss_mb": peak,
                "target_s": target_s,
                "target_peak_rss_mb": target_rss,
                "verdict": ok,
            },
            "stage_seconds": stages,
            "catalog_size": manifest.get("catalog_size"),
            "customers": manifest["metrics"].get("identity", {}).get("customers"),
            "events": n_events,
        }
    )
    if args.scale_customers:
        result["generation"] = json.loads((data / "done").read_text())
    if n_events:
        factor = args.extrapolate_events / n_events
        result["linear_extrapolation"] = {
            "to_events": args.extrapolate_events,
            "factor": factor,
            "wall_s": wall * factor,
            "note": "linear in events: a lower bound for stages that grow faster (CF, co-purchase, identity merges)",
        }
        console.print(
            f"linear extrapolation to {args.extrapolate_events:,} events: {wall * factor / 3600:.1f} h (lower bound)"
        )
    name = f"train_scale_c{args.scale_customers}" if args.scale_customers else "train"
    name = f"train_c{args.customers}" if args.customers and not args.scale_customers else name
    write_result(name, result, args.out)


if __name__ == "__main__":
    main()
