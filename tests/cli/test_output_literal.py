"""Text the user controls (paths, data sources, item ids, labels, error messages from the data or
the store) is printed as it is: Rich markup in it ('[b]', '[/]', '[red]') is neither read as
styles (the tag eaten) nor a MarkupError, an emoji code (':cat:') stays text, and a line that
carries a path is never folded at the terminal width (80 columns in a pipe or CI log), so it
can be copied and parsed. Each case failed before: the commands printed through a plain Rich
`Console.print`. The model runs are replaced by fakes; the stores are small ones written here."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.ser.metrics import SerMetrics

LIBRI = Path(__file__).resolve().parents[2] / "data" / "librispeech_sample"
ODD = "a[b]b[/]c[red]d:cat:e"          # tags that parse, a closing tag, an emoji code
BAD = "x[/y]z"                         # a closing tag with nothing to close: a MarkupError
ENV = {"COLUMNS": "80"}


def long_dir(root: Path) -> Path:
    """A folder whose path is well over 120 characters (over 300), with markup in it."""
    return root / ("L" * 150) / ("M" * 150) / f"run{ODD}"


def run(args: list[str], **kw):
    return CliRunner().invoke(app, args, env=ENV, **kw)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def small_store(path: Path) -> Path:
    """Three finished ASR configurations, items whose ids hold markup, a machine named with it."""
    from speechbudget.sweep.store import ResultsStore
    path.parent.mkdir(parents=True, exist_ok=True)
    st = ResultsStore(path)
    run_id = st.start_run({"name": f"sp{ODD}"}, {"cpu": f"cpu{ODD}", "device": "cpu"})
    for w, g in ((10.0, 10.0), (20.0, 20.0), (30.0, 30.0)):
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, g, {"dataset": "d"}, run_id)
        items = [ItemResult(f"spk{ODD}_{i}", True, prediction="a b", reference="a b c",
                            errors=(i + int(w)) % 3, n_ref=3, audio_s=4.0) for i in range(4)]
        st.commit_shard(c.key, "s0", items, run_id)
        e = sum(r.errors for r in items) / 12
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", e, e * .8, e * 1.2, 4, 0,
                                            gflops=g, rtf=g / 100, peak_mem_mb=100 + g,
                                            timings={"encoder": g / 10}), run_id)
    st.finish_run(run_id)
    st.close()
    return path


# -- asr eval -------------------------------------------------------------------------------

def _fake_asr(monkeypatch, item_id: str, error: str):
    import speechbudget.tasks.asr.runner as runner

    def fake_evaluate(cfg, ds, **kw):
        m = ConfigMetrics(config_key=cfg.key, task="asr", metric="wer", value=0.25, ci_low=0.1,
                          ci_high=0.4, n_items=1, n_failed=1, rtfx=10.0, gflops=10.0, rtf=0.1,
                          extra={"threads": 1,
                                 "failures": [{"item_id": item_id, "error": error}]})
        return m, [ItemResult(item_id="u1", ok=True, prediction="a", reference="a b",
                              errors=1, n_ref=2),
                   ItemResult(item_id=item_id, ok=False, error=error)]
    monkeypatch.setattr(runner, "evaluate", fake_evaluate)


def test_asr_eval_out_path_and_failed_items_literal(tmp_path, monkeypatch):
    out = long_dir(tmp_path) / "r.json"
    out.parent.mkdir(parents=True)
    error = f"cannot read {tmp_path}/{ODD}/{'x' * 120}.flac {BAD}"
    _fake_asr(monkeypatch, f"spk{ODD}_1", error)
    res = run(["asr", "eval", "--data", str(LIBRI), "--limit", "1", "--device", "cpu",
               "--no-progress", "--allow-failures", "-o", str(out)])
    assert res.exit_code == 0, res.output
    shown = lines(res.stdout)
    assert f"wrote {out}" in shown
    assert f"  spk{ODD}_1: {error}" in shown
    assert out.is_file()


def test_asr_eval_data_source_in_the_title_literal(tmp_path, monkeypatch):
    data = tmp_path / f"d{ODD}"          # ('[/]' holds a '/': a folder inside a folder)
    data.parent.mkdir(parents=True)
    data.symlink_to(LIBRI, target_is_directory=True)
    _fake_asr(monkeypatch, "u2", "e")
    res = CliRunner().invoke(app, ["asr", "eval", "--data", str(data), "--limit", "1",
                                   "--device", "cpu", "--no-progress", "--allow-failures"],
                             env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert f"ASR on {data}" in res.stdout


def test_asr_adapt_wrote_line_literal(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    import speechbudget.tasks.asr.adapt as ad
    import speechbudget.tasks.asr.adapter_files as adapter_files

    out = long_dir(tmp_path) / "adapter"
    monkeypatch.setattr(loading, "load_whisper", lambda name: SimpleNamespace(model=None))
    monkeypatch.setattr(adapter_files, "check_out_folder", lambda *a, **kw: None)
    monkeypatch.setattr(ad, "read_training_audio", lambda ds: SimpleNamespace(
        skipped=[], items=list(ds.items), audio=[None] * len(ds.items)))
    monkeypatch.setattr(ad, "prepare", lambda bundle, cfg, items: [])
    monkeypatch.setattr(ad, "train_adapter", lambda *a, **kw: SimpleNamespace(
        path=out / "adapter.safetensors",
        record=SimpleNamespace(steps=2, wall_s=1.0, losses=[2.0, 1.0], train_flops=1e12,
                               peak_mem_mb=None)))
    res = run(["asr", "adapt", "--data", str(LIBRI), "--limit", "1", "-o", str(out), "--rank",
               "0", "--unfreeze-top", "1", "--steps", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (f"wrote {out / 'adapter.safetensors'} (2 steps, 1 s, loss 2.0000 -> 1.0000, 1.000 "
            "training TFLOPs, peak not measured)") in lines(res.stderr)


# -- ser eval / ser train --------------------------------------------------------------------

def test_ser_eval_out_path_title_labels_and_error_literal(tmp_path, monkeypatch):
    import speechbudget.cli.ser_cmd as ser_cmd
    import speechbudget.tasks.ser.api as api
    import speechbudget.tasks.ser.checkpoint as checkpoint

    def fake_evaluate(ckpt, dataset, **kw):
        m = SerMetrics(ua=0.5, wa=0.5, macro_f1=0.5, confusion=[[1, 0], [1, 0]],
                       labels=[f"ang{ODD}", "hap"], n=2)
        return m, [ItemResult(item_id="c1", ok=True, prediction="hap", reference="hap"),
                   ItemResult(item_id="c2", ok=False, error=f"bad clip {ODD} {BAD}")]
    monkeypatch.setattr(checkpoint, "read_meta", lambda ckpt: {})
    monkeypatch.setattr(ser_cmd, "_data", lambda *a: SimpleNamespace(items=[]))
    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    ckpt = tmp_path / f"ck{ODD}"
    ckpt.mkdir(parents=True)
    out = long_dir(tmp_path) / "r.json"
    res = run(["ser", "eval", str(ckpt), "--data", "d", "--device", "cpu", "--no-progress",
               "--allow-failures", "-o", str(out)])
    assert res.exit_code == 0, res.output
    shown = lines(res.stdout)
    assert f"wrote {out}" in shown
    assert f"1 clip(s) failed, e.g. bad clip {ODD} {BAD}" in shown
    wide = CliRunner().invoke(app, ["ser", "eval", str(ckpt), "--data", "d", "--device", "cpu",
                                    "--no-progress", "--allow-failures"],
                              env={"COLUMNS": "400"})
    assert f"{ckpt} on d" in wide.stdout
    assert f"┃ ang{ODD} ┃" in wide.stdout and f"│ ang{ODD} │" in wide.stdout  # head, row


def test_ser_train_data_and_checkpoint_literal(tmp_path, monkeypatch):
    import speechbudget.cli.ser_cmd as ser_cmd
    import speechbudget.tasks.ser.api as api

    result = SimpleNamespace(skipped=[(f"clip{ODD}.wav", f"unreadable {BAD}")], history=[],
                             trainable_params=10, best_epoch=1, epochs_run=1,
                             test=SerMetrics(ua=0.5, wa=0.5, macro_f1=0.5, confusion=[[1]],
                                             labels=["x"], n=1))
    monkeypatch.setattr(ser_cmd, "_data", lambda *a: SimpleNamespace(items=[]))
    monkeypatch.setattr(api, "train", lambda *a, **kw: result)
    out = long_dir(tmp_path) / "ckpt"
    data = tmp_path / f"data{ODD}"
    res = run(["ser", "train", "--data", str(data), "-o", str(out), "--device", "cpu",
               "--no-progress", "--allow-failures", "--epochs", "1"])
    assert res.exit_code == 0, res.output
    shown = lines(res.stdout)
    assert f"checkpoint: {out}" in shown
    assert any(line.startswith("SER tiny.en") and line.endswith(f" on {data} (fold 0 of 5), cpu")
               for line in shown), shown
    assert f"1 clip(s) skipped, e.g. clip{ODD}.wav: unreadable {BAD}" in shown


# -- sweep calibrate / sweep run -------------------------------------------------------------

def test_sweep_calibrate_wrote_line_and_progress_literal(tmp_path, monkeypatch):
    import speechbudget.sweep.timing as timing

    def fake_calibrate(names, data, items, bss, device, progress):
        progress(f"timing {data}")
        return SimpleNamespace(to_dict=lambda: {"x": 1}, calibration=f"cal {ODD}")
    monkeypatch.setattr(timing, "calibrate_time_model", fake_calibrate)
    out = long_dir(tmp_path) / "tm.json"
    out.parent.mkdir(parents=True)
    data = str(long_dir(tmp_path) / "data")
    res = run(["sweep", "calibrate", "--device", "cpu", "--data", data, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}: cal {ODD}" in lines(res.stdout)
    assert f"timing {data}" in lines(res.stderr)


def test_sweep_plan_name_and_calibration_literal(tmp_path, monkeypatch):
    import json

    import yaml

    import speechbudget.sweep.plan as plan
    monkeypatch.setattr(plan, "calibrate_gflops_per_s", lambda *a, **kw: 100.0)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": f"n{ODD}", "task": "asr", "data": str(LIBRI),
                                    "models": ["tiny.en"], "axes": {"window": [30, 10]},
                                    "plan": "star"}))
    tm = tmp_path / "tm.json"
    tm.write_text(json.dumps({"peak_gflops_per_s": 100.0, "features_s_per_audio_s": 0.002,
                              "encoder_efficiency": {"tiny.en": 0.5},
                              "decoder_s_per_token": {"tiny.en": {"8": 0.005}},
                              "calibration": f"cal {ODD}"}))
    res = CliRunner().invoke(app, ["sweep", "plan", str(spec), "--time-model", str(tm)],
                             env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert f"n{ODD}: star plan, 2 configurations" in res.stdout
    assert f"by the time model (cal {ODD}; encoder" in res.stdout


def _fake_sweep(monkeypatch, outcome):
    import speechbudget.sweep.run as sweep_run
    import speechbudget.sweep.spec as spec

    monkeypatch.setattr(spec, "load_spec", lambda path, data=None: SimpleNamespace())

    def fake_run_sweep(*a, **kw):
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
    monkeypatch.setattr(sweep_run, "run_sweep", fake_run_sweep)


def test_sweep_run_summary_line_literal(tmp_path, monkeypatch):
    summary = SimpleNamespace(run_id=3, none_scored=[], eliminated=[], rounds=[], finished=2,
                              failed=0, reused=1, shards_run=4, seconds=1.0, uncompared={},
                              metrics=[], failures={})
    _fake_sweep(monkeypatch, summary)
    store = long_dir(tmp_path) / "runs.db"
    res = run(["sweep", "run", str(tmp_path / "spec.yaml"), str(store), "--no-progress",
               "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert f"run 3: 2 finished, 0 failed, 1 already in {store}, 4 shards run in 1.0 s" \
        in lines(res.stdout)


def test_sweep_run_interrupted_line_literal(tmp_path, monkeypatch):
    _fake_sweep(monkeypatch, KeyboardInterrupt())
    store = long_dir(tmp_path) / "runs.db"
    res = run(["sweep", "run", str(tmp_path / "spec.yaml"), str(store), "--device", "cpu"])
    assert res.exit_code == 130, res.output   # the fake sweep created no store
    assert (f"interrupted: nothing was stored yet ({store} not created); run the same command "
            "again to start") in lines(res.stderr)


# -- report / demo ---------------------------------------------------------------------------

def test_report_path_literal(tmp_path, monkeypatch):
    import speechbudget.report.build as build

    def fake_build(loaded, out, **kw):
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("x")
        return out / "index.html"
    monkeypatch.setattr(build, "build_report", fake_build)
    store = small_store(long_dir(tmp_path) / "runs.db")
    out = long_dir(tmp_path) / "rep"
    res = run(["report", str(store), "-o", str(out), "--no-progress", "--static"])
    assert res.exit_code == 0, res.output
    assert f"report: {out / 'index.html'}" in lines(res.stdout)


def test_demo_report_store_and_failures_literal(tmp_path, monkeypatch):
    import speechbudget.cli.recommend_cmd as recommend_cmd
    import speechbudget.demo as demo

    folder = long_dir(tmp_path)
    result = SimpleNamespace(recommendation=None, report=folder / "report" / "index.html",
                             store=folder / "runs.db",
                             failures={"tiny.en 10s": f"cannot read {folder}/{BAD}.wav"})
    monkeypatch.setattr(demo, "run_demo", lambda *a, **kw: result)
    monkeypatch.setattr(recommend_cmd, "print_recommendation", lambda rec: None)
    res = run(["demo", "-o", str(folder), "--no-ser"])
    assert res.exit_code == 0, res.output
    shown = lines(res.stdout)
    assert f"failed: tiny.en 10s: cannot read {folder}/{BAD}.wav" in shown
    assert f"report: {result.report}" in shown
    assert (f"store:  {result.store} (speechbudget recommend {result.store} --max-gflops G "
            "--max-rtf R)") in shown


# -- runs ------------------------------------------------------------------------------------

def test_runs_list_cells_literal(tmp_path):
    store = small_store(tmp_path / "s" / "runs.db")
    res = CliRunner().invoke(app, ["runs", "list", str(store)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert f"│ sp{ODD} │" in res.stdout


def test_runs_export_paths_literal(tmp_path):
    store = small_store(tmp_path / "s" / "runs.db")
    out = long_dir(tmp_path) / "export"
    res = run(["runs", "export", str(store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    shown = lines(res.stdout)
    assert str(out / "configs.csv") in shown and str(out / "items.csv") in shown


def test_runs_show_no_runs_line_literal(tmp_path):
    from speechbudget.sweep.store import ResultsStore
    store = long_dir(tmp_path) / "empty.db"
    store.parent.mkdir(parents=True)
    ResultsStore(store).close()
    res = run(["runs", "show", str(store)])
    assert res.exit_code == 0, res.output
    assert f"{store}: no runs" in lines(res.stdout)


def test_runs_show_configuration_reason_literal(tmp_path):
    from speechbudget.sweep.store import ResultsStore
    store = small_store(tmp_path / "s" / "runs.db")
    key = Config(task="asr", model="tiny.en", window=10.0).key
    reason = f"cannot read {long_dir(tmp_path)}/{BAD}.wav"
    st = ResultsStore(store)
    st.set_config_status(key, "failed", reason)
    st.close()
    res = run(["runs", "show", str(store), key])
    assert res.exit_code == 0, res.output
    assert f"tiny.en 10s ({key}): failed - {reason}" in lines(res.stdout)


def test_runs_show_time_model_literal(tmp_path):
    import json
    store = small_store(tmp_path / "s" / "runs.db")
    tm = tmp_path / "tm.json"
    tm.write_text(json.dumps({"peak_gflops_per_s": 100.0, "features_s_per_audio_s": 0.002,
                              "encoder_efficiency": {"tiny.en": 0.5},
                              "decoder_s_per_token": {"tiny.en": {"8": 0.005}},
                              "calibration": f"cal {ODD}"}))
    res = run(["runs", "show", str(store), "--time-model", str(tm)])
    assert res.exit_code == 0, res.output
    assert any(line.endswith(f"configurations; time model: cal {ODD}")
               for line in lines(res.stdout)), res.stdout


def test_runs_export_mlflow_line_unwrapped(tmp_path, monkeypatch):
    import speechbudget.sweep.tracking as tracking
    store = small_store(tmp_path / "s" / "runs.db")
    uri = f"file:{long_dir(tmp_path) / 'mlruns'}"
    monkeypatch.setattr(tracking, "export_mlflow", lambda st, u, e, r: SimpleNamespace(
        runs=[1, 2, 3], tracking_uri=u, parent_run_id="p1", skipped=[]))
    res = run(["runs", "export-mlflow", str(store), "--tracking-uri", uri,
               "--experiment", f"ex{ODD}"])
    assert res.exit_code == 0, res.output
    assert (f"3 configurations logged to {uri} (experiment 'ex{ODD}', store run p1)"
            in lines(res.stdout))


# -- recommend -------------------------------------------------------------------------------

def test_recommend_machine_note_literal(tmp_path):
    store = small_store(tmp_path / "s" / "runs.db")
    res = CliRunner().invoke(app, ["recommend", str(store)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert f"cpu=cpu{ODD}" in res.stdout


# -- the progress bar (drawn on a terminal only) ---------------------------------------------

def test_progress_bar_description_literal(monkeypatch):
    import io

    from rich.console import Console

    import speechbudget.cli.progress as progress
    buf = io.StringIO()
    monkeypatch.setattr(progress, "err_console", Console(file=buf, force_terminal=True,
                                                         width=300))
    with progress.progress_bar(True, f"scoring /tmp/{BAD}/{ODD}") as update:
        update(1, 2)
        update(2, 2, f"phase {BAD}")
    assert f"phase {BAD}" in buf.getvalue()      # drawn as given (it raised MarkupError)
