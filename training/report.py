"""The human-readable training report: Markdown with PNG plots, next to the manifest."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from models import artifacts as A  # noqa: E402


def _bar(path: Path, title: str, values: dict[str, float], ylabel: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    names = list(values)
    ax.bar(names, [values[n] for n in names], color="#3b6ea8")
    for i, n in enumerate(names):
        ax.text(i, values[n], f"{values[n]:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _table(rows: dict[str, dict[str, float]], columns: list[str]) -> list[str]:
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, metrics in rows.items():
        cells = [
            f"{metrics.get(c, float('nan')):.4f}" if isinstance(metrics.get(c), (int, float)) else ""
            for c in columns
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_report(bundle_dir: Path, metrics: dict) -> Path:
    """Write ``reports/report.md`` and its plots from the metrics the pipeline collected."""
    bundle_dir = Path(bundle_dir)
    plots = bundle_dir / A.PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    lines = ["# omnirank training report", ""]
    ingest = metrics.get("ingest", {})
    lines += [
        "## Data",
        "",
        f"Rows kept: {ingest.get('rows', {})}",
        "",
        f"Quarantined rows: {ingest.get('quarantined_total', 0)} ({ingest.get('quarantined', {})})",
        "",
    ]
    if ident := metrics.get("identity"):
        lines += ["## Identity resolution", "", "| metric | value |", "|---|---|"]
        lines += [
            f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in ident.items()
        ]
        lines.append("")
    if enc := metrics.get("encoder"):
        lines += [
            "## Encoder",
            "",
            f"ONNX vs torch cosine: min {enc['onnx_torch_cosine_min']:.5f}, "
            f"mean {enc['onnx_torch_cosine_mean']:.5f}",
            "",
        ]
        if "int8" in enc:
            lines += [f"int8 variant: {enc['int8']}", ""]
    if search := metrics.get("search"):
        cols = ["ndcg@10", "ndcg@10_condensed", "mrr@10", "recall@100", "zero_result_rate"]
        lines += ["## Search (labelled queries)", "", *_table(search["methods"], cols), ""]
        lines += ["NDCG@10 by language:", "", *_table(search["by_language"], list(search["methods"])), ""]
        lines += ["NDCG@10 by query kind:", "", *_table(search["by_kind"], list(search["methods"])), ""]
        _bar(
            plots / "search_ndcg.png",
            "Search NDCG@10",
            {k: v["ndcg@10"] for k, v in search["methods"].items()},
            "NDCG@10",
        )
        lines += ["![search](plots/search_ndcg.png)", ""]
    recs = metrics.get("recommendations", {})
    if modes := recs.get("modes"):
        for mode, rows in modes.items():
            lines += [f"## Recommendations, mode `{mode}` (held-out after {recs.get('cutoff')})", ""]
            lines += [*_table(rows, ["recall@20", "ndcg@20", "coverage"]), ""]
            _bar(
                plots / f"recs_{mode}.png",
                f"Recall@20 ({mode})",
                {k: v["recall@20"] for k, v in rows.items()},
                "Recall@20",
            )
            lines += [f"![recs {mode}](plots/recs_{mode}.png)", ""]
        if parity := recs.get("channel_parity"):
            lines += [
                "Store-only vs online-only buyers (blend, mode all):",
                "",
                *_table(parity, ["recall@20", "ndcg@20", "n_users"]),
                "",
            ]
    if ranker := metrics.get("recs_ranker"):
        lines += recs_ranker_lines(ranker)
    if surfaces := metrics.get("surfaces"):
        from training.eval_surfaces import report_lines

        lines += report_lines(surfaces)
    if knowledge := metrics.get("product_knowledge"):
        lines += [f"Product knowledge (durable / consumable per category): {knowledge}", ""]
    if timings := metrics.get("stage_seconds"):
        lines += ["## Stage timings (s)", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    path = bundle_dir / A.REPORT
    path.write_text("\n".join(lines) + "\n")
    return path


def recs_ranker_lines(decision: dict) -> list[str]:
    """The learned recommendation ranker's decision: kept or why not, and the validation numbers
    it was judged on (the blend's and its own, on the validation customers it did not learn from)."""
    verdict = "kept: it orders customers' lists" if decision.get("kept") else "not kept: the blend serves"
    lines = [f"## Recommendation ranker (mode `{decision.get('mode', 'all')}`)", "", f"Decision: {verdict}."]
    if why := decision.get("why"):
        lines.append(f"Why: {why}.")
    k = decision.get("k", 20)
    rows = {
        name: decision[name]
        for name in ("blend", decision.get("kind") or "lightgbm")
        if isinstance(decision.get(name), dict) and f"recall@{k}" in decision[name]
    }
    if rows:
        lines += [
            "",
            f"Validation window from {decision.get('validation_cutoff')}: learned on "
            f"{decision.get('validation_users_fit')} customers, judged on {decision.get('validation_users_check')}.",
            "",
            *_table(rows, [f"recall@{k}", f"ndcg@{k}", "coverage"]),
        ]
    return [*lines, "", f"Stage time: {decision.get('seconds', 0)} s", ""]
