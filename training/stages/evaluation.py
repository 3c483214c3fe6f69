"""Stages that measure the bundle being written (no component of their own): search quality and the
int8 encoder decision, the judged surfaces, the report."""

from __future__ import annotations

from models import artifacts as A
from training.eval_surfaces import evaluate_surfaces
from training.evaluate import evaluate_search
from training.report import write_report
from training.stages.run import TrainingRun


def has_labelled_queries(run: TrainingRun) -> bool:
    return run.evaluate and run.data.queries is not None and run.data.judgments is not None


def evaluate_search_quality(run: TrainingRun) -> None:
    """Search metrics on the labelled queries, and the int8 encoder kept only within budget."""
    data, settings, metrics = run.data, run.settings, run.metrics
    metrics["search"] = evaluate_search(run.out.path, data.queries, data.judgments, settings)
    int8 = run.out.file(A.ENCODER_DIR + "/" + A.INT8_MODEL_FILE)
    quantised = evaluate_search(
        run.out.path, data.queries, data.judgments, settings, model_file=int8.name, only=("dense",)
    )
    metrics["encoder"]["int8"] = int8_decision(metrics["search"], quantised, settings.int8_max_ndcg_loss)
    drop_unkept_int8(run)


def no_int8_without_labels(run: TrainingRun) -> None:
    run.metrics["encoder"]["int8"] = {"kept": False, "why": "no labelled queries to check its quality"}
    drop_unkept_int8(run)


def drop_unkept_int8(run: TrainingRun) -> None:
    if not run.metrics["encoder"]["int8"]["kept"]:
        run.out.file(A.ENCODER_DIR + "/" + A.INT8_MODEL_FILE).unlink()


def int8_decision(fp32: dict, int8: dict, max_loss: float) -> dict:
    """Keep the int8 query encoder only if dense NDCG@10 drops by less than ``max_loss``."""
    before, after = fp32["methods"]["dense"]["ndcg@10"], int8["methods"]["dense"]["ndcg@10"]
    return {
        "dense_ndcg@10_fp32": before,
        "dense_ndcg@10_int8": after,
        "loss": round(before - after, 4),
        "kept": bool(before - after < max_loss),
    }


def evaluate_judged_surfaces(run: TrainingRun) -> None:
    run.metrics["surfaces"] = evaluate_surfaces(run.out.path, run.data_dir, run.settings)
    run.out.write_json(A.SURFACES_REPORT, run.metrics["surfaces"])


def write_training_report(run: TrainingRun) -> None:
    run.metrics["stage_seconds"] = run.timings  # the same dict: the report stage's own time joins it
    write_report(run.out.path, run.metrics)
