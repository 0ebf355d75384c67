"""Tidy tables of a results store for pandas and Parquet: one column per axis, real types.

    from speechbudget.sweep.store import ResultsStore
    st = ResultsStore("runs.db", readonly=True)
    df = st.to_pandas()                        # one row per configuration (axes + metrics)
    items = st.to_pandas("items")              # one row per configuration x item
    runs = st.to_pandas("runs")                # one row per `sweep run`, environment flattened

Columns are named once and typed once (nullable pandas dtypes, so a missing value never turns an
integer column into floats): axes `model, window, window_s, window_dynamic, stride, stride_at,
stride_at_layer, pool, adaptation, adaptation_rank, adaptation_alpha, adaptation_targets,
adaptation_unfreeze_top, precision, beam, dynamic_margin_s` (and any Config field added later,
under its own name); times are timezone-aware UTC timestamps (ISO-8601 in CSV); flags are
booleans; per-stage timings are `timing_<stage>_s` columns; a nested value (the environment's
`env_versions`) is a JSON string. WER is also given in percent
(`wer_percent`). `export(store, out, "parquet")` writes these tables with an explicit Parquet
schema. `export_raw_csv` / `export_raw_parquet` (ResultsStore.export_csv / export_parquet,
`runs export --raw`) write the store's own tables as stored instead. Reads the store only through
ResultsStore's public methods.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

TABLES = ("configs", "items", "runs")

AXES = {  # column -> pandas dtype
    "model": "string", "window": "string", "window_s": "Float64", "window_dynamic": "boolean",
    "stride": "Int64", "stride_at": "string", "stride_at_layer": "Int64", "pool": "string",
    "adaptation": "string", "adaptation_rank": "Int64", "adaptation_alpha": "Float64",
    "adaptation_targets": "string", "adaptation_unfreeze_top": "Int64", "precision": "string",
    "beam": "Int64", "dynamic_margin_s": "Float64"}
CONFIG_COLUMNS = {
    "key": "string", "label": "string", "task": "string", "status": "string", "done": "boolean",
    "reason": "string", **AXES, "metric": "string", "value": "Float64", "error": "Float64",
    "wer_percent": "Float64", "ci_low": "Float64", "ci_high": "Float64", "n_items": "Int64",
    "n_failed": "Int64", "gflops": "Float64", "gflops_per_audio_s": "Float64",
    "train_gflops": "Float64", "rtf": "Float64", "rtfx": "Float64", "peak_mem_mb": "Float64",
    "estimated_gflops": "Float64", "first_run": "Int64", "last_run": "Int64",
    "updated": "datetime64[us, UTC]"}
ITEM_COLUMNS = {
    "key": "string", "label": "string", "task": "string", "item_id": "string", "ok": "boolean",
    "prediction": "string", "reference": "string", "errors": "Int64", "n_ref": "Int64",
    "decoded_tokens": "Int64", "audio_s": "Float64", "chunks": "Int64", "gflops": "Float64",
    "error": "string"}
RUN_COLUMNS = {
    "run_id": "Int64", "spec_name": "string", "spec_digest": "string",
    "started": "datetime64[us, UTC]", "finished": "datetime64[us, UTC]", "status": "string"}


def _utc(ts: float | None):
    return None if ts is None else dt.datetime.fromtimestamp(float(ts), dt.timezone.utc)


def axis_columns(config: Any) -> dict[str, Any]:
    """One value per axis of a Config (see the module docstring for the names)."""
    d = config.to_dict()
    ad = d.pop("adaptation", {}) or {}
    window = d.pop("window")
    dynamic = isinstance(window, str)
    stride_at = d.pop("stride_at")
    row = {"model": d.pop("model"), "window": "dynamic" if dynamic else f"{window:g}",
           "window_s": None if dynamic else float(window), "window_dynamic": dynamic,
           "stride": d.pop("stride"), "stride_at": str(stride_at),
           "stride_at_layer": stride_at if isinstance(stride_at, int) else None,
           "pool": d.pop("pool"), "adaptation": ad.pop("method", "none"),
           "adaptation_rank": ad.pop("rank", 0), "adaptation_alpha": ad.pop("alpha", None),
           "adaptation_targets": ",".join(ad.pop("targets", []) or []),
           "adaptation_unfreeze_top": ad.pop("unfreeze_top", 0),
           "precision": d.pop("precision"), "beam": d.pop("beam_size"),
           "dynamic_margin_s": d.pop("dynamic_margin_s", None)}
    d.pop("task", None)
    for k, v in ad.items():            # adaptation fields added later
        row[f"adaptation_{k}"] = v
    row.update(d)                      # Config fields added later, under their own names
    return row


def _timings(prefix: str, timings: dict[str, Any] | None) -> dict[str, float]:
    return {f"{prefix}{k}_s": float(v) for k, v in (timings or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _frame(rows: list[dict[str, Any]], dtypes: dict[str, str]):
    import pandas as pd
    df = pd.DataFrame(rows)
    for c in dtypes:
        if c not in df.columns:
            df[c] = None
    extra = [c for c in df.columns if c not in dtypes]
    df = df[[*dtypes, *extra]]
    for c, t in dtypes.items():
        df[c] = df[c].astype(t) if not t.startswith("datetime") else \
            pd.to_datetime(df[c], utc=True).dt.as_unit("us")
    for c in extra:   # later fields / timings: numbers stay numbers, everything else strings
        col = df[c]
        if all(isinstance(v, bool) for v in col.dropna()) and col.notna().any():
            df[c] = col.astype("boolean")
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in col.dropna()):
            df[c] = col.astype("Int64")
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col.dropna()):
            df[c] = col.astype("Float64")
        else:
            df[c] = col.map(_text).astype("string")
    return df


def _text(v: Any) -> str | None:
    """A value of a string column: a nested one (env_versions, a GPU description, a list) as
    JSON, so a CSV or Parquet reader can parse it back (json.loads), not a Python repr."""
    if v is None:
        return None
    if isinstance(v, (dict, list, tuple)):
        import json
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def _open(store: Any):
    """The store object (this module reads a ResultsStore through its public methods and does not
    import it: the store's own `to_pandas` delegates here)."""
    if isinstance(store, (str, Path)):
        raise TypeError(f"{store}: pass an open store, e.g. ResultsStore({str(store)!r}, "
                        "readonly=True).to_pandas()")
    return store


def to_pandas(store: Any, table: str = "configs"):
    """A tidy pandas DataFrame of `table` (configs, items or runs) of an open ResultsStore."""
    if table not in TABLES:
        raise ValueError(f"table={table!r}: expected one of {', '.join(TABLES)}")
    st = _open(store)
    if table == "runs":
        rows = []
        for r in st.runs():
            env = st.environment(r["run_id"])
            rows.append({**r, "started": _utc(r["started"]), "finished": _utc(r["finished"]),
                         **{f"env_{k}": v for k, v in env.items()}})
        return _frame(rows, RUN_COLUMNS)
    configs = st.configs()
    raw = st.tables()["configs"]
    cols = raw[0]
    extra = {row[cols.index("key")]: dict(zip(cols, row)) for row in raw[1]}
    metrics = {c.key: m for c, m in st.metrics()}
    if table == "configs":
        rows = []
        for r in configs:
            m = metrics.get(r["key"])
            e = extra.get(r["key"], {})
            row = {"key": r["key"], "label": r["label"], "task": r["task"],
                   "status": r["status"], "done": r["status"] == "done", "reason": r["reason"],
                   **axis_columns(r["config"]), "estimated_gflops": r["gflops"],
                   "first_run": e.get("first_run"), "last_run": e.get("last_run"),
                   "updated": _utc(e.get("updated"))}
            if m is not None:
                row.update({k: getattr(m, k) for k in (
                    "metric", "value", "ci_low", "ci_high", "n_items", "n_failed", "gflops",
                    "gflops_per_audio_s", "train_gflops", "rtf", "rtfx", "peak_mem_mb")})
                row["error"] = m.error
                row["wer_percent"] = 100 * m.value if m.metric == "wer" and \
                    m.value is not None else None
                row.update(_timings("timing_", m.timings))
            rows.append(row)
        return _frame(rows, CONFIG_COLUMNS)
    rows = []
    for r in configs:
        for it in st.items(r["key"]):
            rows.append({"key": r["key"], "label": r["label"], "task": r["task"],
                         "item_id": it.item_id, "ok": bool(it.ok), "prediction": it.prediction,
                         "reference": it.reference, "errors": it.errors, "n_ref": it.n_ref,
                         "decoded_tokens": it.decoded_tokens, "audio_s": it.audio_s,
                         "chunks": it.chunks, "gflops": it.gflops, "error": it.error,
                         **_timings("timing_", it.timings)})
    return _frame(rows, ITEM_COLUMNS)


def arrow_schema(df):
    """The Parquet schema of a tidy frame (nullable ints, booleans, UTC timestamps, strings)."""
    import pyarrow as pa
    conv = {"string": pa.string(), "Int64": pa.int64(), "Float64": pa.float64(),
            "boolean": pa.bool_()}
    fields = []
    for c, t in df.dtypes.items():
        s = str(t)
        typ = pa.timestamp("us", tz="UTC") if s.startswith("datetime64") else conv.get(s)
        if typ is None:
            raise ValueError(f"column {c!r}: no Parquet type for dtype {s}")
        fields.append(pa.field(c, typ, nullable=True))
    return pa.schema(fields)


def export(store: Any, out_dir: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write configs, items and runs as Parquet (with `arrow_schema`) and/or CSV (ISO-8601
    times); returns the paths written."""
    if fmt not in ("csv", "parquet", "both"):
        raise ValueError(f"format {fmt!r}: expected csv, parquet or both")
    import io

    from speechbudget.errors import make_output_dir
    out_dir = Path(out_dir)
    st = _open(store)
    files: list[tuple[Path, bytes]] = []   # every table computed before anything is written
    for name in TABLES:
        df = to_pandas(st, name)
        if fmt in ("parquet", "both"):
            import pyarrow as pa
            import pyarrow.parquet as pq
            buf = io.BytesIO()
            pq.write_table(pa.Table.from_pandas(df, schema=arrow_schema(df),
                                                preserve_index=False), buf)
            files.append((out_dir / f"{name}.parquet", buf.getvalue()))
        if fmt in ("csv", "both"):
            csv_df = df.copy()
            for c, t in csv_df.dtypes.items():
                if str(t).startswith("datetime64"):
                    csv_df[c] = csv_df[c].map(lambda v: None if v is None or v != v
                                              else v.isoformat())
            files.append((out_dir / f"{name}.csv", csv_df.to_csv(index=False).encode("utf-8")))
    make_output_dir(out_dir, "export folder")
    return _write_files(out_dir, files)


# ---- the store's own tables, as stored (`runs export --raw`) ------------------------------
def export_raw_csv(store: Any, out_dir: str | Path) -> list[Path]:
    """One CSV per table of an open store as stored (`ResultsStore.tables`) in `out_dir`, each
    written whole (temporary file + os.replace)."""
    import csv
    import io

    from speechbudget.errors import check_output_dir
    out_dir = check_output_dir(out_dir, "export folder")
    tables = store.tables()
    files = []
    for name, (cols, rows) in tables.items():
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        files.append((out_dir / f"{name}.csv", buf.getvalue()))
    return _write_raw(out_dir, files)


def export_raw_parquet(store: Any, out_dir: str | Path) -> list[Path]:
    """One Parquet file per table of an open store as stored (`ResultsStore.tables`) in
    `out_dir` (an empty table's columns typed as strings), each written whole."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from speechbudget.errors import check_output_dir
    out_dir = check_output_dir(out_dir, "export folder")
    tables = store.tables()
    files = []
    for name, (cols, rows) in tables.items():
        table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)}) if rows \
            else pa.table({c: pa.array([], pa.string()) for c in cols})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        files.append((out_dir / f"{name}.parquet", buf.getvalue()))
    return _write_raw(out_dir, files)


def _write_raw(out_dir: Path, files: list[tuple[Path, str | bytes]]) -> list[Path]:
    """Create `out_dir` and write the files (`_write_files`); a folder that cannot be created is
    an OutputError (exit 6) too."""
    from speechbudget.errors import OutputError
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot write the export ({e.strerror or e})") from None
    return _write_files(out_dir, files)


def _write_files(out_dir: Path, files: list[tuple[Path, str | bytes]]) -> list[Path]:
    """Write each file whole (temporary file, fsync, rename) into the folder `out_dir`; a file
    that cannot be written is an OutputError (exit 6)."""
    from speechbudget.errors import OutputError, write_atomic
    try:
        return [write_atomic(p, data) for p, data in files]
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot write the export ({e.strerror or e})") from None
