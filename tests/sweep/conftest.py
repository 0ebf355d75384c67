"""Sweep test helpers: specs that use the test-double task (tests/sweep/fake_task.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
FAKE_RUNNER = f"{HERE / 'fake_task.py'}:FakeTask"


@pytest.fixture
def write_spec(tmp_path, bundled_librispeech):
    """write_spec(**keys) -> path of a YAML sweep file (fake task on the bundled sample)."""
    def make(name: str = "spec", **keys) -> Path:
        d = {"task": "asr", "data": str(bundled_librispeech), "runner": FAKE_RUNNER,
             "task_options": {"n_items": 6, "batch_size": 2}, "models": ["tiny.en", "base"],
             "axes": {"window": [30, 10], "stride": [1, 2], "beam": [1, 2]}, "plan": "star"}
        d.update(keys)
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(d))
        return p
    return make


# ---- the real ASR task on a few short bundled utterances --------------------------------------
ASR_SPEC = {"task": "asr", "models": ["tiny.en"], "plan": "star",
            "task_options": {"batch_size": 1, "warmup": False, "n_boot": 200},
            "axes": {"window": [10, 6], "stride": [1, 2]}}


@pytest.fixture(scope="session")
def shortest_manifest(bundled_librispeech):
    """write(folder, n=4) -> a manifest in `folder` of the n shortest bundled utterances (3-5 s
    for n = 4), with absolute audio paths."""
    import json

    def write(folder: Path, n: int = 4) -> Path:
        rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
                .splitlines() if x.strip()]
        rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:n]
        for r in rows:
            r["audio"] = str((bundled_librispeech / r["audio"]).resolve())
        out = folder / "manifest.jsonl"
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return out
    return write


@pytest.fixture(scope="session")
def asr_spec(tmp_path_factory, shortest_manifest) -> Path:
    """A star sweep (3 configurations x 4 one-utterance shards) of tiny.en on the 4 shortest
    bundled utterances (3-5 s)."""
    d = tmp_path_factory.mktemp("asr_short")
    p = d / "asr_star.yaml"
    p.write_text(yaml.safe_dump({**ASR_SPEC, "data": str(shortest_manifest(d))}))
    return p


@pytest.fixture(scope="session")
def asr_baseline(asr_spec, tmp_path_factory):
    """An uninterrupted local run of `asr_spec`: (store path, summary)."""
    from speechbudget.sweep import run_sweep
    db = tmp_path_factory.mktemp("asr_base") / "base.db"
    return db, run_sweep(asr_spec, db, progress=False, device="cpu")


@pytest.fixture(scope="session")
def asr_comparable():
    """comparable(store_path): what must not depend on how a sweep ran (metrics, item outputs)."""
    return _asr_comparable


def _asr_comparable(store_path):
    from speechbudget.sweep import ResultsStore
    st = ResultsStore(store_path, readonly=True)
    out = {}
    for c, m in st.metrics():
        items = sorted((r.item_id, r.ok, r.prediction, r.errors, r.n_ref, r.decoded_tokens)
                       for r in st.items(c.key))
        out[c.key] = (m.metric, m.value, m.ci_low, m.ci_high, m.n_items, m.n_failed,
                      round(m.gflops, 6), items)
    st.close()
    return out


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped: no such process any more."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def store_with_killed_run(db) -> tuple[int, int]:
    """A store `db` holding two runs of this machine, both 'running': one whose pid is alive (1)
    and one whose process is gone. Returns (alive, dead) run ids."""
    import platform

    from speechbudget.sweep.store import ResultsStore
    spec = {"name": "s", "digest": "d"}
    with ResultsStore(db) as st:
        alive = st.start_run(spec, {"hostname": platform.node(), "pid": 1})
        # (recorded last: start_run would mark it 'killed')
        dead = st.start_run(spec, {"hostname": platform.node(), "pid": dead_pid()})
    return alive, dead


def store_files(folder) -> dict:
    """The bytes of the store `r.db` in `folder`, as a reader leaves them: SQLite's empty -wal
    and -shm index of a reader are left out (nothing written)."""
    return {x.name: x.read_bytes() for x in sorted(Path(folder).iterdir())
            if x.name != "r.db-shm" and not (x.name == "r.db-wal" and x.stat().st_size == 0)}


@pytest.fixture
def window_store(write_spec, tmp_path):
    """A finished store of the test-double sweep over window 30 and 10 (runs.db)."""
    from speechbudget.sweep import run_sweep
    spec = write_spec(axes={"window": [30, 10]})
    db = tmp_path / "runs.db"
    run_sweep(spec, db, progress=False, device="cpu", allow_runner=True)
    return db


def register_sweep(spec: dict, db, folder) -> None:
    """Register every configuration of the sweep file `spec` (a dict, written to `folder`) in the
    store `db` as `sweep run` does before running any (its data, context and audio record),
    running nothing."""
    import yaml

    from speechbudget.sweep import load_spec
    from speechbudget.sweep.driver import Sweep
    from speechbudget.sweep.executors import make_executor
    from speechbudget.sweep.plan import plan_configurations
    from speechbudget.sweep.store import ResultsStore

    p = Path(folder) / "s.yaml"
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    loaded = load_spec(p)
    ex = make_executor("local", None, "cpu", None, 0)
    with ResultsStore(db) as store:
        sweep = Sweep(loaded, store, ex, "cpu", progress=False, retry_failed=True)
        try:
            plan = plan_configurations(loaded, audio_s=sweep.mean_audio_s)
            for c in plan.configs:
                sweep.register(c, plan.gflops)
        finally:
            sweep.finish([], "finished", 0.0)
            ex.close()


# a sweep of one tiny.en configuration on a few items (the data-identity tests register it)
ASR_ONE_CONFIG = {"task": "asr", "models": ["tiny.en"], "axes": {"window": [10]}, "plan": "grid",
                  "task_options": {"batch_size": 2, "warmup": False, "n_boot": 50}}


def shortest_rows(bundled_librispeech, n: int = 2) -> list[dict]:
    """The manifest rows of the `n` shortest bundled utterances (ties by id)."""
    import json
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines() if x.strip()]
    return sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:n]


def copy_shortest(bundled_librispeech, folder, n: int = 2) -> list[dict]:
    """`shortest_rows`, their audio copied under `folder` at the same relative paths."""
    import shutil
    rows = shortest_rows(bundled_librispeech, n)
    for r in rows:
        (Path(folder) / r["audio"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_librispeech / r["audio"], Path(folder) / r["audio"])
    return rows


def copied_manifest(bundled_librispeech, folder, n: int = 2) -> tuple[Path, list[dict]]:
    """`copy_shortest` under `folder`/a, and a JSONL manifest `folder`/m.jsonl naming the copies
    by absolute path: (the manifest, the rows)."""
    import json
    folder = Path(folder)
    rows = copy_shortest(bundled_librispeech, folder / "a", n)
    m = folder / "m.jsonl"
    m.write_text("".join(json.dumps({"id": r["id"], "audio": str(folder / "a" / r["audio"]),
                                     "text": r["text"]}) + "\n" for r in rows))
    return m, rows


def sigterm_after_first_shard(cmd: list[str], db, env: dict) -> tuple[int, str]:
    """Run `cmd` (a `sweep run` writing the store `db`), send it SIGTERM once the store holds a
    stored item, and return (exit code, its output)."""
    import signal
    import subprocess
    import time

    from speechbudget.sweep import ResultsStore

    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a shard is stored
        if Path(db).exists():
            try:
                with ResultsStore(db, readonly=True) as st:
                    if st.n_items():
                        break
            except Exception:  # noqa: BLE001 (being created)
                pass
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=60)
    return p.returncode, out


def stored_item_audio(db, iid):
    """(item `iid`'s stored ok, its audio in the record) of the one configuration in store `db`."""
    from speechbudget.sweep.store import ResultsStore
    with ResultsStore(db, readonly=True) as st:
        (c,) = st.configs()
        row = {r.item_id: r for r in st.items(c["key"])}[iid]
        record = st.item_audio(st.config_context(c["key"])["data_content"]["audio"])
        return row.ok, record[iid]
