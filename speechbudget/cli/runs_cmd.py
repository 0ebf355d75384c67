"""`speechbudget runs list|show|export|export-mlflow STORE`: what a results store holds."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line
from speechbudget.cli.options import int_option
from speechbudget.cli.output import console, inert, line
from speechbudget.errors import finite_json
from speechbudget.sweep.progress import value_text
from speechbudget.typed_numbers import is_digits

runs_app = typer.Typer(help="Inspect and export a results store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


def _open(store: Path):
    from speechbudget.sweep.store import ResultsStore
    return ResultsStore(store, readonly=True)  # a StoreError is exit 4


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def _t(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _wer_percent(m: dict | None) -> float | None:
    if not m or m.get("metric") != "wer" or m.get("value") is None:
        return None
    return 100 * m["value"]


@runs_app.command("list")
def list_cmd(store: Path = typer.Argument(..., help="results store (SQLite)"),
             as_json: bool = typer.Option(False, "--json", help="print runs and configurations "
                                          "as JSON")) -> None:
    """Runs, and each configuration with its status and metric."""
    st = _open(store)
    if as_json:
        import json
        metrics = {c.key: m.to_dict() for c, m in st.metrics()}
        stale = st.stale_runs()
        # stale: why a run still marked running is not (its process gone, no heartbeat), or null
        runs = [{**r, "started": _iso(r["started"]), "finished": _iso(r["finished"]),
                 "environment": st.environment(r["run_id"]), "stale": stale.get(r["run_id"])}
                for r in st.runs()]
        configs = [{"key": r["key"], "label": r["label"], "task": r["task"],
                    "status": r["status"], "reason": r["reason"], "config": r["config"].to_dict(),
                    "metrics": metrics.get(r["key"]),
                    # the README's convention: WER as a fraction in `value`, and in percent
                    "wer_percent": _wer_percent(metrics.get(r["key"]))} for r in st.configs()]
        # NaN (a configuration whose every item failed) is not JSON: null, as in report.json
        typer.echo(json.dumps(finite_json({"runs": runs, "configs": configs}), indent=1,
                              default=str, allow_nan=False))
        return
    t = Table(title=f"runs in {inert(store)}")
    runs = st.runs()
    stale = st.stale_runs()  # marked running, but known not to be: 'running?' and why
    reasons = any(r["reason"] for r in runs) or bool(stale)  # the column says why
    for col in ("run", "spec", "started", "finished", "status", "executor", "device", "threads",
                "git") + (("reason",) if reasons else ()):
        t.add_column(col)
    for r in runs:
        env = st.environment(r["run_id"])
        t.add_row(str(r["run_id"]), inert(r["spec_name"]), _t(r["started"]), _t(r["finished"]),
                  inert(r["status"] + ("?" if r["run_id"] in stale else "")),
                  inert(env.get("executor", "")),
                  inert(env.get("device", "")), inert(env.get("torch_threads", "")),
                  inert(str(env.get("git") or "")[:12]),
                  *((inert(cell(f"stale ({stale[r['run_id']]})" if r["run_id"] in stale
                                else r["reason"] or "", 120)),) if reasons else ()))
    console().print(t)
    metrics = {c.key: m for c, m in st.metrics()}
    t = Table(title="configurations")
    for col in ("key", "configuration", "status", "metric", "value", "GFLOPs/item", "RTF",
                "items", "reason"):
        t.add_column(col)
    cut = []          # a reason is cut in the table (kept readable), whole below it
    for row in st.configs():
        m = metrics.get(row["key"])
        value = "" if not m else value_text(m)   # n/a where every item failed, as `runs show`
        reason = row["reason"] or ""
        if len(reason) > CONFIG_REASON_CELL or "\n" in reason:
            cut.append(row)
        t.add_row(inert(row["key"]), inert(row["label"]), inert(row["status"]),
                  inert(m.metric) if m else "", value,
                  f"{m.gflops:.2f}" if m and m.gflops else "",
                  f"{m.rtf:.3f}" if m and m.rtf else "", str(m.n_items) if m else "",
                  inert(cell(reason.splitlines()[0] if reason else "", CONFIG_REASON_CELL)))
    console().print(t)
    if cut:
        line("reasons cut above, whole:")
        for row in cut:    # one line each (a newline in it shown as \n), never folded
            line(f"  {row['key']}: {row['reason']}")


CONFIG_REASON_CELL = 60   # characters of a configuration's reason in `runs list`'s table


def cell(text: str, width: int) -> str:
    """`text` as a table cell of at most `width` characters: a longer one cut, ending in '…'."""
    return text if len(text) <= width else text[:width - 1] + "…"


REASON_CELL = 70   # characters of a prediction or failure reason in `runs show`'s items table


@runs_app.command("show")
def show_cmd(store: Path = typer.Argument(..., help="results store (SQLite)"),
             what: Optional[str] = typer.Argument(None, help="a configuration key (prefix) or "
                                                             "a run id; default: the last run"),
             limit: int = int_option(20, min=0, help="items to show"),
             time_model: Optional[Path] = typer.Option(
                 None, "--time-model", help="calibration for the predicted times (default: the "
                                            "one `sweep calibrate` wrote in the cache)")) -> None:
    """A run's environment and spec, with each configuration's predicted time beside the
    measured one; or a configuration's metrics and items."""
    import json
    st = _open(store)
    runs = st.runs()
    if what is None or is_digits(what) and int(what) in {r["run_id"] for r in runs}:
        if not runs:
            line(f"{store}: no runs")
            return
        run_id = int(what) if what else runs[-1]["run_id"]
        spec = st.run_spec(run_id)
        run = dict(next(r for r in runs if r["run_id"] == run_id))
        # as runs list shows it: a run marked running but known not to be is 'running?', and
        # 'stale' says why (null when live or unknown); the store is not written
        stale = st.stale_runs().get(run_id)
        if stale is not None:
            run["status"] += "?"
        run["stale"] = stale
        shown = {"run": run, "environment": st.environment(run_id), "spec": spec}
        labels = {r["key"]: r["label"] for r in st.configs()}
        pairs = [{"round": u["round"], "configurations": [labels.get(u["config_key"]),
                                                           labels.get(u["other_key"])],
                  "keys": [u["config_key"], u["other_key"]], "reason": u["reason"]}
                 for u in st.uncompared(run_id=run_id)]
        if pairs:  # racing: pairs neither of which could stop the other, and why
            shown["racing_uncompared"] = pairs
        console().print_json(json.dumps(shown, default=str))
        _predicted_vs_measured(st, spec, time_model)
        return
    rows = [r for r in st.configs() if r["key"].startswith(what)]
    if len(rows) != 1:
        err_line(f"{what!r} matches {len(rows)} configurations and no run of {store}", "error: ")
        raise typer.Exit(2)
    row = rows[0]
    console().print(f"[bold]{inert(row['label'])}[/bold] ({inert(row['key'])}): "
                    f"{inert(row['status'])}" + (f" - {inert(row['reason'])}" if row["reason"]
                                                 else ""))
    _print_uncompared(st, row["key"])
    console().print(row["config"].to_yaml(), markup=False)
    m = {c.key: m for c, m in st.metrics()}.get(row["key"])
    if m:
        console().print(_metrics_table(m))
    t = Table(title=f"items (first {limit})")
    for col in ("item", "ok", "errors", "n_ref", "tokens", "GFLOPs", "prediction / reason"):
        t.add_column(col)
    failed = []       # a failure's reason is cut in the table (kept readable), whole below it
    for r in st.items(row["key"])[:limit]:
        text = (r.prediction if r.ok else r.error) or ""
        if not r.ok and r.error and len(r.error) > REASON_CELL:
            failed.append(r)
        t.add_row(inert(r.item_id), "yes" if r.ok else "no", str(r.errors), str(r.n_ref),
                  str(r.decoded_tokens), f"{r.gflops:.2f}" if r.gflops else "",
                  inert(cell(text, REASON_CELL)))
    console().print(t)
    if failed:
        line("reasons of the failed items cut above, whole:")
        for r in failed:   # one line each (a newline in it shown as \n), never folded
            line(f"  {r.item_id}: {r.error}")


def _metrics_table(m) -> Table:
    """A configuration's metrics as a table of its main fields: the metric (WER in percent, as
    every table shows it) with its confidence interval, items, cost, speed, stage times, and the
    task's scalar extras. Every field, as stored: `runs list --json`, `runs export`."""
    import math

    def num(x, digits: int = 2, scale: float = 1.0) -> str | None:
        if x is None:
            return None
        if isinstance(x, float) and not math.isfinite(x):
            return "n/a"
        return f"{scale * x:.{digits}f}"

    wer = m.metric == "wer"
    unit, scale, digits = (" %", 100.0, 2) if wer else ("", 1.0, 4)
    value = num(m.value, digits, scale)
    if value is not None and value != "n/a":
        value += unit
    if m.ci_low is not None and m.ci_high is not None:
        value = f"{value} [{num(m.ci_low, digits, scale)}, {num(m.ci_high, digits, scale)}]" \
            f"{unit} (95% CI)"
    rows = [(m.metric, value),
            ("items scored", str(m.n_items)),
            ("items failed", str(m.n_failed)),
            ("GFLOPs/item", num(m.gflops)),
            ("GFLOPs/audio s", num(m.gflops_per_audio_s)),
            ("training GFLOPs", num(m.train_gflops, 1)),
            ("RTF (batched)", num(m.rtf, 3)),
            ("RTFx (batched)", num(m.rtfx, 1)),
            ("latency p50 / p90 s", None if m.latency_p50_s is None else
             f"{num(m.latency_p50_s, 3)} / {num(m.latency_p90_s, 3)} ({m.latency_n} items)"),
            ("RTF p50 / p90", None if m.rtf_p50 is None else
             f"{num(m.rtf_p50, 3)} / {num(m.rtf_p90, 3)}"),
            ("peak memory MB", num(m.peak_mem_mb, 0))]
    rows += [(f"{stage} s", num(sec)) for stage, sec in (m.timings or {}).items()
             if isinstance(sec, (int, float)) and not isinstance(sec, bool)]
    for k, v in (m.extra or {}).items():
        if isinstance(v, bool) or v is None or isinstance(v, str):
            rows.append((str(k), None if v is None else str(v)))
        elif isinstance(v, (int, float)):
            rows.append((str(k), str(v) if isinstance(v, int) else num(v, 4)))
        # (lists, mappings - a confusion matrix - are in runs list --json and runs export)
    t = Table(title="metrics")
    t.add_column("field")
    t.add_column("value")
    for name, v in rows:
        if v is not None:
            t.add_row(inert(name), inert(v))
    return t


def _print_uncompared(st, key: str, limit: int = 10) -> None:
    """Racing rounds in which `key` and another configuration could not be compared (neither
    could stop the other): why a configuration may have survived a race."""
    rows = st.uncompared(config_key=key)
    if not rows:
        return
    labels = {r["key"]: r["label"] for r in st.configs()}
    out = console()
    out.print(f"not compared in racing with {len(rows)} configuration pair(s) (neither could "
              "stop the other):", markup=False)
    for u in rows[:limit]:
        other = u["other_key"] if u["config_key"] == key else u["config_key"]
        out.print(f"  run {u['run_id']}, round {u['round']}, with "
                  f"{inert(labels.get(other, other))}: {inert(u['reason'])}")
    if len(rows) > limit:
        out.print(f"  ... and {len(rows) - limit} more", markup=False)


def _predicted_vs_measured(st, spec: dict, time_model: Path | None) -> None:
    """Per configuration: processing seconds predicted by the calibrated time model (from the
    items' audio lengths, tokens estimated as before a run) beside the measured stage seconds."""
    import statistics

    from speechbudget.axes import ConfigError
    from speechbudget.sweep.timing import load_time_model, predict_config_seconds
    try:
        tm = load_time_model(time_model)
    except ConfigError as e:
        err_line(str(e), "error: ")
        raise typer.Exit(2)
    if tm is None:
        console().print("[dim]predicted vs measured time: no calibration (run `speechbudget "
                        "sweep calibrate`, or pass --time-model FILE)[/dim]")
        return
    opts = (spec or {}).get("task_options") or {}
    batch = int(opts.get("batch_size", 8))
    t = Table(title=f"predicted vs measured processing time (batch {batch}; features + encoder "
                    f"+ decoder seconds)")
    for col in ("configuration", "items", "predicted s", "measured s", "error"):
        t.add_column(col, justify="left" if col == "configuration" else "right")
    errs = []
    for c, m in st.metrics():
        durations = [r.audio_s for r in st.items(c.key) if r.ok and r.audio_s]
        pred = predict_config_seconds(c, tm, durations, batch)
        meas = sum(m.timings.get(k, 0.0) for k in ("features", "encoder", "decoder"))
        err = pred / meas - 1 if pred is not None and meas > 0 else None
        if err is not None:
            errs.append(abs(err))
        t.add_row(inert(c.label), str(len(durations)), "–" if pred is None else f"{pred:.2f}",
                  f"{meas:.2f}" if meas > 0 else "–", "–" if err is None else f"{100 * err:+.0f}%")
    console().print(t)
    if errs:
        console().print(f"median absolute error {100 * statistics.median(errs):.0f}% over "
                        f"{len(errs)} configurations; time model: {inert(tm.calibration)}")


@runs_app.command("export")
def export_cmd(store: Path = typer.Argument(..., help="results store (SQLite)"),
               out: Path = typer.Option(Path("export"), "-o", "--out", help="output folder"),
               fmt: str = typer.Option("csv", "--format", help="csv | parquet | both"),
               raw: bool = typer.Option(False, "--raw", help="the store's own tables (runs, "
                                        "configs, shards, items, metrics) as stored")) -> None:
    """Write tidy tables (configs: one column per axis and metric; items; runs) as CSV and/or
    Parquet (with a schema; ISO-8601 UTC times in CSV). --raw: the store's tables as stored."""
    if fmt not in ("csv", "parquet", "both"):
        err_line(f"--format {fmt!r}: expected csv, parquet or both", "error: ")
        raise typer.Exit(2)
    if out.suffix.lower() in (".csv", ".parquet", ".pq") and not out.is_dir():
        # a file name: the tables would go into a folder of that name, in the --format's format
        err_line(f"--out {out}: names a file, but --out is the folder that receives configs, "
                 "items and runs (one file each); name a folder, and choose the format with "
                 "--format csv|parquet|both", "error: ")
        raise typer.Exit(2)
    st = _open(store)
    paths = []
    if not raw:
        from speechbudget.errors import check_output_dir
        from speechbudget.sweep.export import export
        check_output_dir(out, "--out")
        paths = export(st, out, fmt)
    elif fmt in ("csv", "both"):
        paths += st.export_csv(out)
    if raw and fmt in ("parquet", "both"):
        paths += st.export_parquet(out)
    for p in paths:
        line(p)


@runs_app.command("export-mlflow")
def export_mlflow_cmd(store: Path = typer.Argument(..., help="results store (SQLite)"),
                      tracking_uri: str = typer.Option(..., "--tracking-uri",
                                                       help="MLflow tracking URI (file:DIR, "
                                                            "http://..., sqlite:///...) or a "
                                                            "folder"),
                      experiment: str = typer.Option("speechbudget", "--experiment",
                                                     help="MLflow experiment name"),
                      report: Optional[Path] = typer.Option(None, "--report",
                                                            help="report folder or file to log "
                                                                 "as an artifact")) -> None:
    """Log the store to MLflow: one run per finished configuration (params = axes; metrics =
    WER/UA, GFLOPs, RTF, latency) under one run for the store holding the report.
    Needs `pip install 'speechbudget\\[tracking]'`."""
    from speechbudget.sweep.tracking import export_mlflow
    st = _open(store)
    try:
        out = export_mlflow(st, tracking_uri, experiment, report)
    except (ImportError, FileNotFoundError, ValueError) as e:
        err_line(str(e), "error: ")
        raise typer.Exit(2)
    except Exception as e:  # noqa: BLE001 (MLflow's own: a store or server it cannot log to)
        if not type(e).__module__.startswith("mlflow"):
            raise
        from speechbudget.errors import OutputError
        raise OutputError(f"--tracking-uri {tracking_uri}: MLflow cannot log there "
                          f"({type(e).__name__}: {e})") from None
    finally:
        st.close()
    line(f"{len(out.runs)} configurations logged to {out.tracking_uri} (experiment "
         f"{experiment!r}, store run {out.parent_run_id})"
         + (f"; {len(out.skipped)} not finished, skipped" if out.skipped else ""))
