"""Log a results store to MLflow: one MLflow run per finished configuration, nested under one run
for the store (which holds the report as an artifact). Optional extra: `pip install
'speechbudget[tracking]'` (mlflow-skinny; the full `mlflow` package works too).

    from speechbudget.sweep.store import ResultsStore
    from speechbudget.sweep.tracking import export_mlflow
    st = ResultsStore("runs.db", readonly=True)
    out = export_mlflow(st, "file:./mlruns", experiment="asr-star", report="report/")
    # then: mlflow ui --backend-store-uri ./mlruns

Each configuration's run: params = the axes (`sweep.export.axis_columns` names: model, window,
stride, stride_at, pool, adaptation, precision, beam, ...), task, key and label; metrics = the
task metric under its own name (`wer` fraction, `ua`, ...), `wer_percent`, `ci_low`/`ci_high`,
`gflops` per item, `gflops_per_audio_s`, `rtf`, `rtfx`, `latency_ms_per_item` (processing
seconds per item: every stage but model loading and training), `peak_mem_mb`, `n_items`,
`n_failed`, and the stage totals `timing_<stage>_s`; tags name the store and the configuration
key. Exporting the same store again updates those runs instead of adding new ones.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from speechbudget.sweep.export import AXES, to_pandas

STORE_TAG = "speechbudget.store"
KEY_TAG = "speechbudget.config_key"
METRICS = ("wer_percent", "ci_low", "ci_high", "gflops", "gflops_per_audio_s", "train_gflops",
           "rtf", "rtfx", "peak_mem_mb", "n_items", "n_failed", "estimated_gflops")
NOT_LATENCY = ("load", "train", "train_fold")   # stage timings that are not per-item processing


@dataclass
class MlflowExport:
    """What `export_mlflow` logged."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    runs: dict[str, str] = field(default_factory=dict)       # config key -> MLflow run id
    skipped: dict[str, str] = field(default_factory=dict)    # config label -> why (not finished)


def tracking_uri_for(where: str | Path) -> str:
    """An MLflow tracking URI: kept as given when it has a scheme (file:, http:, sqlite:, ...),
    else a local folder turned into a file: URI."""
    s = str(where)
    if not s.strip():  # Path("") is the current folder: MLflow would make it a file store
        raise ValueError("tracking URI: empty; give a folder, file:DIR, sqlite:///FILE or "
                         "http://HOST")
    if ":" in s and not Path(s).exists() and s.split(":", 1)[0].isalpha() and len(
            s.split(":", 1)[0]) > 1:
        return s
    path = Path(s).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"tracking URI {s}: a file, not a folder for MLflow's file store")
    return path.as_uri()


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _params(row: dict[str, Any]) -> dict[str, str]:
    p = {k: row[k] for k in ("task", "key", "label", "metric")}
    p.update({k: row.get(k) for k in AXES})
    return {k: str(v) for k, v in p.items() if v is not None and not _isna(v)}


def _isna(v: Any) -> bool:
    try:
        return bool(v != v)
    except (TypeError, ValueError):
        return False


def _metrics(row: dict[str, Any]) -> dict[str, float]:
    out = {}
    if row.get("metric"):
        out[str(row["metric"])] = _number(row.get("value"))
    for k in METRICS:
        out[k] = _number(row.get(k))
    stages = {k[len("timing_"):-2]: _number(v) for k, v in row.items()
              if k.startswith("timing_") and k.endswith("_s")}
    out.update({f"timing_{k}_s": v for k, v in stages.items()})
    n = _number(row.get("n_items"))
    busy = [v for k, v in stages.items() if k not in NOT_LATENCY and v is not None]
    if n and busy:
        out["latency_ms_per_item"] = 1000 * sum(busy) / n
    return {k: v for k, v in out.items() if v is not None}


def export_mlflow(store: Any, tracking_uri: str | Path, experiment: str = "speechbudget",
                  report: str | Path | None = None) -> MlflowExport:
    """Log every finished configuration of the open ResultsStore `store` (see the module
    docstring) to the MLflow tracking server or folder `tracking_uri`, in `experiment`; `report`
    (a folder such as `speechbudget report`'s output, or one file) is logged as the artifact
    `report/` of the store's run. Prints nothing."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError("logging to MLflow needs mlflow: pip install "
                          "'speechbudget[tracking]'") from None
    if not isinstance(experiment, str) or not experiment.strip():
        raise ValueError(f"experiment {experiment!r}: expected a non-empty name")
    report_path = Path(report) if report is not None else None
    if report_path is not None and not report_path.exists():
        raise FileNotFoundError(f"report {report_path}: no such file or folder")
    if report_path is not None and not (report_path.is_file() or report_path.is_dir()):
        # a FIFO or device: logging it would block reading it (or read for ever)
        raise ValueError(f"report {report_path}: not a regular file or folder")
    uri = tracking_uri_for(tracking_uri)
    with _quiet_mlflow(file_store=uri.startswith("file:")):
        return _export(store, uri, experiment, report_path, MlflowClient(tracking_uri=uri),
                       Metric, Param, RunTag)


@contextmanager
def _quiet_mlflow(file_store: bool) -> Iterator[None]:
    """MLflow's INFO logging off; a file: store allowed (MLflow 3 refuses one unless
    MLFLOW_ALLOW_FILE_STORE is set: the user asked for it by giving a file: URI or a folder).
    Both restored afterwards."""
    import logging
    log = logging.getLogger("mlflow")
    level, env = log.level, os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    log.setLevel(logging.WARNING)
    if file_store:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        log.setLevel(level)
        if file_store:
            if env is None:
                os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
            else:
                os.environ["MLFLOW_ALLOW_FILE_STORE"] = env


def _export(store: Any, uri: str, experiment: str, report_path: Path | None, client: Any,
            Metric: Any, Param: Any, RunTag: Any) -> MlflowExport:
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    store_id = str(Path(store.path).resolve())
    existing = {r.data.tags.get(KEY_TAG, ""): r.info.run_id for r in client.search_runs(
        [exp_id], filter_string=f"tags.`{STORE_TAG}` = '{_quote(store_id)}'", max_results=50000)}
    now = int(time.time() * 1000)
    parent = existing.get("") or client.create_run(
        exp_id, run_name=Path(store_id).name, tags={STORE_TAG: store_id}).info.run_id
    out = MlflowExport(uri, exp_id, parent)
    configs = to_pandas(store, "configs").astype(object).where(lambda d: d.notna(), None)
    for row in configs.to_dict("records"):
        if not row["done"] or row.get("value") is None:
            out.skipped[row["label"]] = row.get("reason") or row["status"]
            continue
        run_id = existing.get(row["key"])
        if run_id is None:
            run_id = client.create_run(exp_id, run_name=row["label"], tags={
                STORE_TAG: store_id, KEY_TAG: row["key"],
                "mlflow.parentRunId": parent}).info.run_id
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0)
                                          for k, v in _metrics(row).items()],
                         params=[Param(k, v) for k, v in _params(row).items()],
                         tags=[RunTag("task", row["task"])])
        client.set_terminated(run_id, "FINISHED")
        out.runs[row["key"]] = run_id
    client.log_batch(parent, metrics=[Metric("configurations", float(len(out.runs)), now, 0)])
    if report_path is not None:
        if report_path.is_dir():
            client.log_artifacts(parent, str(report_path), "report")
        else:
            client.log_artifact(parent, str(report_path), "report")
    client.set_terminated(parent, "FINISHED")
    return out


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")
