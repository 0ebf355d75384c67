"""Damaged stores and unwritable outputs met by `runs`, `recommend` and `report`: each is one
line naming the store (exit 4) or the output (exit 6), never a traceback or exit 70; outputs
are replaced whole. Cheap: the test-double task (tests/sweep/fake_task.py), no model."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def store(tmp_path, spec_file):
    """A finished sweep of the test-double task: 3 configurations."""
    from speechbudget.sweep import run_sweep
    db = tmp_path / "runs.db"
    run_sweep(spec_file(tmp_path), db, allow_runner=True, progress=False, device="cpu")
    return db


def edited(store: Path, sql: str) -> Path:
    con = sqlite3.connect(store)
    con.execute(sql)
    con.commit()
    con.close()
    return store


# ---- stores -------------------------------------------------------------------------------------
@pytest.mark.parametrize("sql, where", [
    ("UPDATE configs SET config_json = '{not json'", "configs row"),
    ("UPDATE configs SET config_json = '{\"task\": \"asr\", \"model\": \"gpt-9\"}'",
     "configs row"),
    ("UPDATE metrics SET metrics_json = '[]'", "metrics row"),
    ("UPDATE runs SET environment_json = 'xx'", "runs row 1"),
    ("UPDATE items SET timings_json = 'zz'", "items row"),
    ("DROP TABLE items", "no table items"),
    ("UPDATE metrics SET metrics_json = '" + "[" * 100000 + "]" * 100000 + "'", "metrics row"),
])
def test_a_damaged_store_is_a_store_error(store, cli, sql, where, tmp_path):
    edited(store, sql)
    commands = [("recommend", store), ("runs", "export", store, "-o", tmp_path / "x")]
    if "items" not in sql:
        commands.append(("runs", "list", store))
    for args in commands:
        cli(*args, code=4, has=(str(store), where))


def damage_page_of(store: Path, table: str) -> Path:
    """Overwrite the first page of `table`'s b-tree with junk (a bad disk block, a torn copy),
    leaving the file's header and schema readable."""
    con = sqlite3.connect(store)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    con.close()
    with open(store, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * 2000)
    return store


@pytest.mark.parametrize("table", ["metrics", "shards", "items"])
def test_a_damaged_page_met_by_a_query_is_a_store_error(store, cli, tmp_path, spec_file, table):
    """A junk page inside a table passed the open-time checks and then surfaced as 'internal
    error: DatabaseError: database disk image is malformed' (exit 70) from runs list/show/
    export, sweep plan STORE, sweep run, recommend and report."""
    from speechbudget.sweep import ResultsStore
    with ResultsStore(store, readonly=True) as st:
        key = st.configs()[0]["key"]
    damage_page_of(store, table)
    commands = {"metrics": [("runs", "list", store), ("runs", "list", store, "--json"),
                            ("recommend", store)],
                "shards": [("runs", "export", store, "-o", tmp_path / "x", "--raw"),
                           ("sweep", "run", spec_file(tmp_path), store, "--allow-runner",
                            "--no-progress")],
                "items": [("runs", "export", store, "-o", tmp_path / "y"),
                          ("runs", "show", store, key),
                          ("sweep", "plan", spec_file(tmp_path), store)]}[table]
    for args in commands:
        cli(*args, code=4, has=(str(store), "a damaged results store",
                                "database disk image is malformed"))


@pytest.fixture
def read_only():
    """read_only(path): make a file or folder unwritable for this process (chmod; as root,
    whom permissions do not stop, the immutable attribute), undone afterwards."""
    import os
    import subprocess
    done: list[tuple[Path, int]] = []

    def make(path: Path) -> Path:
        if os.geteuid() != 0:
            done.append((path, path.stat().st_mode))
            path.chmod(0o555 if path.is_dir() else 0o444)
        elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("root, and no chattr +i here: nothing is read-only to root")
        else:
            done.append((path, -1))
        return path
    yield make
    for path, mode in reversed(done):
        if mode < 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(mode)


def test_a_read_only_store_says_so(store, cli, tmp_path, spec_file, read_only):
    """A store that cannot be written was 'not a speechbudget results store (attempt to write a
    readonly database)' for sweep run, and a store in a read-only folder could not even be
    read: 'not a speechbudget results store (unable to open database file)' from runs list,
    report and recommend (SQLite cannot create the -shm file of a WAL store there)."""
    import shutil
    spec = spec_file(tmp_path)
    ro_file = read_only(store)
    cli("sweep", "run", spec, ro_file, "--allow-runner", "--no-progress", code=4,
        has=(str(ro_file), "cannot write to this results store", "can still read it"))
    cli("runs", "list", ro_file, code=0, has=("tiny.en 30s",))
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(store, folder / "runs.db")
    read_only(folder)
    kept = folder / "runs.db"
    cli("runs", "list", kept, code=0, has=("tiny.en 30s", "done"))
    cli("recommend", kept, code=0)
    cli("sweep", "run", spec, kept, "--allow-runner", "--no-progress", code=4,
        has=("cannot open this results store for writing", "folder must be writable"))
    cli("sweep", "run", spec, folder / "new.db", "--allow-runner", "--no-progress", code=4,
        has=("folder must be writable",))


def test_a_read_only_folder_with_a_write_ahead_log_left_is_refused_not_misread(
        store, cli, tmp_path, read_only):
    """Results still in the -wal file would be missed by reading the file alone."""
    import shutil
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(store, folder / "runs.db")
    (folder / "runs.db-wal").write_bytes(b"\0" * 100)
    read_only(folder)
    cli("runs", "list", folder / "runs.db", code=4,
        has=("cannot read this results store", "runs.db-wal holds results"))


def test_a_metric_without_a_value_is_listed_and_exported(store, cli, tmp_path):
    edited(store, "UPDATE metrics SET metrics_json = json_set(metrics_json, '$.value', NULL)")
    cli("runs", "list", store, code=0)
    cli("runs", "export", store, "-o", tmp_path / "x", code=0)


def test_a_folder_as_store_says_what_it_is_once(tmp_path, cli):
    (tmp_path / "s.db").mkdir()
    r = cli("recommend", tmp_path / "s.db", code=4, has=("not a results store",))
    assert "no such results store" not in r.output


# ---- outputs ------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", [("report", "--no-progress", "--bootstrap", "0"),
                                     ("runs", "export"), ("runs", "export", "--raw")])
def test_an_output_folder_that_cannot_be_created_is_exit_6(store, cli, command):
    # /proc refuses new folders even to root (whom os.access lets through)
    out = Path("/proc/no-such-speechbudget-output")
    if command[0] == "report":
        cli("report", store, "-o", out, *command[1:], code=6, has=(str(out),))
    else:
        cli(*command, store, "-o", out, code=6, has=(str(out),))


@pytest.mark.parametrize("command", [("report", "--no-progress", "--bootstrap", "0"),
                                     ("runs", "export")])
def test_outputs_are_replaced_whole_or_left_as_they_were(store, cli, tmp_path, monkeypatch,
                                                         command):
    """A write that fails at the last step (os.replace) leaves the earlier files intact: the
    report and the export write through a temporary file (docs/security.md, Outputs)."""
    import os
    out = tmp_path / "out"
    args = ((command[0], store, "-o", out, *command[1:]) if command[0] == "report"
            else (*command, store, "-o", out))
    cli(*args, code=0)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert before

    def fail(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", fail)
    cli(*args, code=6, has=(str(out),))
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # no half-written file, no temporary file left behind


def test_runs_list_json_is_strict_json_when_every_item_of_a_configuration_failed(store, cli):
    """The ASR task stores value NaN for a configuration whose every item failed; `--json`
    printed it as NaN, which JSON parsers (jq, JSON.parse) refuse."""
    import json

    from speechbudget.records import ConfigMetrics
    from speechbudget.sweep import ResultsStore
    with ResultsStore(store) as st:
        key = st.configs()[0]["key"]
        st.set_metrics(key, ConfigMetrics(key, "asr", "wer", float("nan"), n_items=0,
                                          n_failed=4), None)
    out = cli("runs", "list", store, "--json", code=0).stdout

    def refuse(c):
        raise ValueError(f"not JSON: {c}")
    doc = json.loads(out, parse_constant=refuse)
    assert {c["key"]: c["metrics"]["value"] for c in doc["configs"]}[key] is None


def test_negative_report_seed_and_runs_show_limit_are_usage_errors(store, cli, tmp_path):
    # --seed -1 reached numpy's bootstrap (exit 70, ValueError); --limit -1 silently dropped the
    # last item of `runs show`
    cli("report", store, "-o", tmp_path / "r", "--seed", "-1", "--no-progress", code=2,
        has=("--seed",))
    assert not (tmp_path / "r").exists()
    cli("runs", "show", store, "--limit", "-1", code=2, has=("--limit",))


@pytest.mark.parametrize("command", ["recommend", "report"])
def test_a_task_that_is_no_task_is_a_usage_error(store, cli, tmp_path, command):
    # it said 'no finished configurations' (recommend, exit 2) as if the store were empty
    out = ("-o", tmp_path / "r", "--no-progress") if command == "report" else ()
    cli(command, store, "--task", "sre", *out, code=2, has=("--task", "'sre'", "asr, ser"))


@pytest.mark.parametrize("uri, experiment, code, needle", [
    ("", "speechbudget", 2, "empty"),           # was the current folder: MLflow wrote .trash there
    ("afile", "speechbudget", 2, "a file"),     # was exit 70 (NotADirectoryError)
    ("mlruns", "", 2, "experiment"),            # was exit 70 (MlflowException)
    ("notmlflow", "speechbudget", 6, "MLflow cannot log there"),  # a folder MLflow cannot read
])
def test_export_mlflow_bad_targets(store, cli, tmp_path, monkeypatch, uri, experiment, code,
                                   needle):
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "notmlflow" / ".git").mkdir(parents=True)
    def names():  # (the store's own -wal/-shm aside)
        return sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("runs.db"))
    before = names()
    cli("runs", "export-mlflow", store, "--tracking-uri", uri, "--experiment", experiment,
        code=code, has=(needle,))
    if code == 2:
        assert names() == before  # nothing written


@pytest.mark.parametrize("sql, has", [
    # a scored item without its counts: read as 0 errors / 0 words once; then report exit 70
    ("UPDATE items SET errors = NULL WHERE rowid = (SELECT min(rowid) FROM items WHERE ok = 1)",
     "errors=None"),
    ("UPDATE items SET n_ref = NULL WHERE rowid = (SELECT min(rowid) FROM items WHERE ok = 1)",
     "n_ref=None"),
    # one item with different reference counts under two configurations: report exit 70,
    # recommend exit 2 (a usage error)
    ("UPDATE items SET n_ref = n_ref + 1 WHERE rowid = (SELECT min(rowid) FROM items WHERE ok = 1)",
     "reference units under one configuration"),
])
def test_stored_counts_that_cannot_be_compared_are_a_store_error(store, cli, tmp_path, sql, has):
    edited(store, sql)
    for args in [("recommend", store), ("report", store, "-o", tmp_path / "r")]:
        cli(*args, code=4, has=(str(store), has))
