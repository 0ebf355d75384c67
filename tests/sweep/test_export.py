"""Tidy export: one column per axis, real types, Parquet -> pandas round trip keeps them."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import run_sweep
from speechbudget.sweep.export import AXES, export, to_pandas
from speechbudget.sweep.store import ResultsStore


@pytest.fixture
def store(write_spec, tmp_path):
    spec = write_spec(axes={"window": [30, 10], "stride": [1, 2], "stride_at": [2],
                            "beam": [1, 2]})
    db = tmp_path / "runs.db"
    run_sweep(spec, db, progress=False, device="cpu", allow_runner=True)
    return db


def test_configs_frame_has_a_typed_column_per_axis(store):
    st = ResultsStore(store, readonly=True)
    df = st.to_pandas()
    assert len(df) == len(st.configs()) and df["key"].is_unique
    for col in ("model", "window", "window_s", "stride", "stride_at", "stride_at_layer", "pool",
                "adaptation", "adaptation_rank", "precision", "beam"):
        assert col in df.columns
    assert "config_json" not in df.columns and "timings_json" not in df.columns
    assert str(df["stride"].dtype) == "Int64" and str(df["beam"].dtype) == "Int64"
    assert str(df["window_s"].dtype) == "Float64" and str(df["done"].dtype) == "boolean"
    assert str(df["updated"].dtype) == "datetime64[us, UTC]"
    assert set(df["model"]) == {"tiny.en", "base"} and set(df["beam"]) == {1, 2}
    by_key = {c.key: c for c, _ in st.metrics()}
    for _, row in df.iterrows():
        c = by_key[row["key"]]
        assert (row["window_s"], row["stride"], row["beam"]) == (c.window, c.stride, c.beam_size)
        assert row["stride_at"] == str(c.stride_at)
    wer = df[df["metric"] == "wer"]
    assert ((wer["wer_percent"] - 100 * wer["value"]).abs() < 1e-9).all()
    assert any(c.startswith("timing_") and c.endswith("_s") for c in df.columns)
    items = to_pandas(ResultsStore(store, readonly=True), "items")
    assert str(items["ok"].dtype) == "boolean" and str(items["errors"].dtype) == "Int64"
    runs = to_pandas(ResultsStore(store, readonly=True), "runs")
    assert str(runs["started"].dtype) == "datetime64[us, UTC]" and runs["finished"].notna().all()
    assert "env_executor" in runs.columns


def test_parquet_round_trip_keeps_types_and_values(store, tmp_path):
    paths = export(ResultsStore(store, readonly=True), tmp_path / "out", "both")
    assert {p.name for p in paths} == {f"{t}.{e}" for t in ("configs", "items", "runs")
                                       for e in ("parquet", "csv")}
    for name in ("configs", "items", "runs"):
        df = to_pandas(ResultsStore(store, readonly=True), name)
        back = pd.read_parquet(tmp_path / "out" / f"{name}.parquet")
        assert list(back.columns) == list(df.columns), name
        assert back.dtypes.astype(str).to_dict() == df.dtypes.astype(str).to_dict(), name
        pd.testing.assert_frame_equal(back, df, check_exact=True)
    schema = pq.read_schema(tmp_path / "out" / "configs.parquet")
    assert str(schema.field("stride").type) == "int64"
    assert str(schema.field("updated").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("done").type) == "bool"
    csv = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert pd.Timestamp(csv["started"][0]).tzinfo is not None   # ISO-8601 with +00:00


def test_cli_runs_export_and_json(store, tmp_path):
    r = CliRunner().invoke(app, ["runs", "export", str(store), "-o", str(tmp_path / "x"),
                                 "--format", "parquet"])
    assert r.exit_code == 0, r.output
    assert set(pd.read_parquet(tmp_path / "x" / "configs.parquet").columns) >= set(AXES)
    import json
    r = CliRunner().invoke(app, ["runs", "list", str(store), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["runs"][0]["started"].endswith("+00:00") and d["configs"][0]["config"]["model"]
