"""The bad-input corpus: generated at test time (no committed binaries), one case per input, each
asserting the exact behaviour: the error names the culprit, the exit code, no traceback, nothing
half-written, nothing else changed. Categories: audio, manifests, CLI values, SER data, specs,
stores, outputs, cache, faults, injection. Every case runs under a timeout (no hangs)."""
from __future__ import annotations

import json
import os
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml


pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]
LIBRI = REPO / "data" / "librispeech_sample"
CASES: dict[str, object] = {}
FAKE_RUNNER = f"{REPO / 'tests' / 'sweep' / 'fake_task.py'}:FakeTask"


def digest(p: Path) -> str:
    """Content of a file and its SQLite side files (nothing may change)."""
    import hashlib
    h = hashlib.sha256()
    for q in (p, Path(f"{p}-wal"), Path(f"{p}-shm"), Path(f"{p}-journal")):
        h.update(q.read_bytes() if q.exists() else b"<absent>")
    return h.hexdigest()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def case(category: str):
    def reg(fn):
        CASES[f"{category}:{fn.__name__}"] = fn
        return fn
    return reg


def wav(path: Path, samples: np.ndarray | None = None, sr: int = 16000,
        subtype: str = "PCM_16") -> Path:
    x = np.full(16000, 0.1, np.float32) if samples is None else samples
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def manifest(path: Path, rows, raw: bytes | None = None) -> Path:
    path.write_bytes(raw if raw is not None else
                     "".join(json.dumps(r) + "\n" for r in rows).encode())
    return path


def spec_file(tmp: Path, name: str = "s", text: str | None = None, **keys) -> Path:
    d = {"task": "asr", "data": str(LIBRI), "models": ["tiny.en"],
         "axes": {"window": [30, 10]}, "plan": "star"}
    d.update(keys)
    p = tmp / f"{name}.yaml"
    p.write_text(text if text is not None else yaml.safe_dump(d))
    return p


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# ---- audio ----------------------------------------------------------------------------------
def audio_error(path: Path, *needles: str):
    from speechbudget.audio import AudioError, load_audio
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert str(path) in str(e.value)
    for n in needles:
        assert n in str(e.value)
    assert e.value.exit_code == 3


@case("audio")
def empty_file(tmp, cli):
    p = tmp / "a.wav"
    p.write_bytes(b"")
    audio_error(p, "an empty file (0 bytes)")


@case("audio")
def random_bytes(tmp, cli):
    p = tmp / "a.wav"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    audio_error(p)


@case("audio")
def text_named_flac(tmp, cli):
    p = tmp / "a.flac"
    p.write_text("hello, I am not a FLAC file\n")
    audio_error(p)


@case("audio")
def nan_samples(tmp, cli):
    x = np.full(8000, 0.1, np.float32)
    x[100] = np.nan
    audio_error(wav(tmp / "a.wav", x, subtype="FLOAT"), "non-finite")


@case("audio")
def inf_samples(tmp, cli):
    x = np.full(8000, 0.1, np.float32)
    x[5] = np.inf
    audio_error(wav(tmp / "a.wav", x, subtype="FLOAT"), "non-finite")


@case("audio")
def header_only_wav(tmp, cli):
    # no samples: an empty recording (ASR: an empty transcript, as openai-whisper and
    # faster-whisper give; SER refuses it naming the file: tests/datasets/test_empty_recording.py)
    from speechbudget.audio import load_audio
    p = wav(tmp / "a.wav", np.zeros(0, np.float32))
    x = load_audio(p)
    assert x.shape == (0,) and x.dtype == np.float32


@case("audio")
def truncated_wav_warns(tmp, cli):
    from speechbudget.audio import TruncatedAudioWarning, load_audio
    p = wav(tmp / "a.wav")
    b = p.read_bytes()
    p.write_bytes(b[:len(b) // 2])
    with pytest.warns(TruncatedAudioWarning, match="a.wav: truncated WAV"):
        x = load_audio(p)
    assert 7900 < len(x) < 8100  # what is there, no more


@case("audio")
def complete_wav_does_not_warn(tmp, cli):
    from speechbudget.audio import load_audio
    p = wav(tmp / "a.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_audio(p)) == 16000


@case("audio")
def fifo_is_refused_without_blocking(tmp, cli):
    audio_error(fifo(tmp / "a.wav"), "not a regular file")


@case("audio")
def directory_as_audio(tmp, cli):
    (tmp / "d.wav").mkdir()
    audio_error(tmp / "d.wav", "directory")


@case("audio")
def missing_audio(tmp, cli):
    audio_error(tmp / "nope.wav", "no such audio file")


@case("audio")
def stereo_8khz_is_resampled(tmp, cli):
    from speechbudget.audio import load_audio
    p = tmp / "s.wav"
    sf.write(str(p), np.full((8000, 2), 0.2, np.float32), 8000)
    x = load_audio(p)
    assert x.dtype == np.float32 and abs(len(x) - 16000) <= 2


# ---- manifests (ASR) --------------------------------------------------------------------------
def asr_error(src, *needles):
    from speechbudget.errors import DatasetError
    from speechbudget.tasks.asr.data import load_dataset
    with pytest.raises(DatasetError) as e:
        load_dataset(src)
    for n in needles:
        assert n in str(e.value), str(e.value)
    assert e.value.exit_code == 3


@case("manifest")
def non_utf8_manifest_names_file_and_line(tmp, cli):
    p = manifest(tmp / "m.jsonl", None, b'{"audio": "a.wav", "text": "x"}\n{"audio": "\xff"}\n')
    asr_error(p, f"{p}:2", "not UTF-8")


@case("manifest")
def utf8_bom_manifest_is_accepted(tmp, cli):
    from speechbudget.tasks.asr.data import load_dataset
    wav(tmp / "a.wav")
    p = manifest(tmp / "m.jsonl", None,
                 b'\xef\xbb\xbf{"id": "u1", "audio": "a.wav", "text": "hello"}\n')
    ds = load_dataset(p)
    assert [i.id for i in ds.items] == ["u1"] and ds.items[0].problem is None


@case("manifest")
def invalid_json_line(tmp, cli):
    p = manifest(tmp / "m.jsonl", None, b'{"audio": "a.wav", "text": "x"}\n{oops\n')
    asr_error(p, f"{p}:2", "not valid JSON")


@case("manifest")
def json_array_line(tmp, cli):
    p = manifest(tmp / "m.jsonl", [[1, 2]])
    asr_error(p, f"{p}:1", "expected a JSON object")


@case("manifest")
def empty_manifest(tmp, cli):
    asr_error(manifest(tmp / "m.jsonl", []), "holds no items")


@case("manifest")
def wrong_suffix(tmp, cli):
    p = tmp / "m.txt"
    p.write_text("{}")
    asr_error(p, "expected a manifest (.jsonl, .csv, .tsv)")


@case("manifest")
def fifo_manifest(tmp, cli):
    asr_error(fifo(tmp / "m.jsonl"), "not a regular file")


@case("manifest")
def duplicate_ids(tmp, cli):
    p = manifest(tmp / "m.jsonl", [{"id": "x", "audio": "a.wav", "text": "a"},
                                   {"id": "x", "audio": "b.wav", "text": "b"}])
    asr_error(p, "m.jsonl:2: item id 'x' is also on line 1")


@case("manifest")
def folder_without_manifest(tmp, cli):
    (tmp / "d").mkdir()
    asr_error(tmp / "d", "a folder without a manifest")


@case("manifest")
def missing_audio_field_is_an_item_problem(tmp, cli):
    p = manifest(tmp / "m.jsonl", [{"id": "x", "text": "a"}])
    asr_error(p, "no audio column")   # a manifest without any audio column: the column is named


@case("manifest")
def cli_bad_data_before_loading_any_model(tmp, cli):
    p = manifest(tmp / "m.jsonl", None, b"\xff\xfe\x00garbage\n")
    cli("asr", "eval", "--data", p, "--device", "cpu", code=3,
        has=(str(p), "UTF-16 byte-order mark but is not valid UTF-16"))


@case("manifest")
def cli_missing_data(tmp, cli):
    cli("asr", "eval", "--data", tmp / "nope.jsonl", "--device", "cpu", code=3,
        has=("no such manifest",))


# ---- CLI values -------------------------------------------------------------------------------
def runner_spec(tmp, **keys):
    return spec_file(tmp, runner=FAKE_RUNNER, task_options={"n_items": 4, "batch_size": 2},
                     models=["tiny.en", "base"], **keys)


@case("cli")
def workers_zero(tmp, cli):
    cli("sweep", "run", runner_spec(tmp), "--store", tmp / "r.db", "--workers", "0", code=2,
        has=("--workers",))
    assert not (tmp / "r.db").exists()


@case("cli")
def retries_negative(tmp, cli):
    cli("sweep", "run", runner_spec(tmp), "--store", tmp / "r.db", "--retries", "-1", code=2,
        has=("--retries",))
    assert not (tmp / "r.db").exists()


@case("cli")
def lease_zero(tmp, cli):
    cli("sweep", "run", runner_spec(tmp), "--store", tmp / "r.db", "--lease-s", "0", code=2,
        has=("--lease-s",))


@case("cli")
def library_rejects_bad_workers_and_retries(tmp, cli):
    from speechbudget.sweep import run_sweep
    for kw, name in (({"workers": 0}, "workers=0"), ({"max_retries": -1}, "retries=-1"),
                     ({"lease_s": -5}, "lease_s=-5")):
        with pytest.raises(ValueError, match=name):
            run_sweep(runner_spec(tmp), tmp / "r.db", allow_runner=True, progress=False, **kw)
    assert not (tmp / "r.db").exists()


@case("cli")
def cuda_on_a_cpu_only_machine(tmp, cli):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    cli("asr", "eval", "--data", LIBRI, "--device", "cuda", code=2,
        has=("device", "'cuda'", "no CUDA device"))


@case("cli")
def unknown_device_name(tmp, cli):
    cli("asr", "eval", "--data", LIBRI, "--device", "tpu9", code=2, has=("device", "tpu9"))


@case("cli")
def window_too_long(tmp, cli):
    cli("asr", "eval", "--data", LIBRI, "--window", "45", "--device", "cpu", code=2,
        has=("window",))


@case("cli")
def unknown_model(tmp, cli):
    cli("asr", "eval", "--data", LIBRI, "--model", "whisper-huge-v9", "--device", "cpu", code=2,
        has=("whisper-huge-v9",))


@case("cli")
def string_dynamic_margin_in_spec(tmp, cli):
    p = spec_file(tmp, axes={"window": ["dynamic"], "dynamic_margin_s": ["1.5"]})
    cli("sweep", "plan", p, code=2, has=("dynamic_margin_s", "not a string"))


@case("cli")
def string_dynamic_margin_in_config(tmp, cli):
    from speechbudget.axes import Config, ConfigError
    for w in ("dynamic", 30):
        with pytest.raises(ConfigError, match="dynamic_margin_s"):
            Config(task="asr", model="tiny.en", window=w, dynamic_margin_s="2")


@case("cli")
def batch_size_zero(tmp, cli):
    cli("asr", "eval", "--data", LIBRI, "--batch-size", "0", code=2, has=("--batch-size",))


# ---- SER data ---------------------------------------------------------------------------------
def ser_error(src, *needles):
    from speechbudget.errors import DatasetError
    from speechbudget.tasks.ser.data import load_dataset
    with pytest.raises(DatasetError) as e:
        load_dataset(src)
    for n in needles:
        assert n in str(e.value), str(e.value)


@case("ser")
def ser_non_utf8(tmp, cli):
    p = manifest(tmp / "manifest.jsonl", None, b'{"audio": "\xc3\x28", "label": "x"}\n')
    ser_error(p, f"{p}:1", "not UTF-8")


@case("ser")
def ser_unknown_label(tmp, cli):
    p = manifest(tmp / "manifest.jsonl", [{"audio": "a.wav", "label": "smug", "speaker": "1"}])
    ser_error(p, f"{p}:1", "smug")


@case("ser")
def ser_missing_speaker(tmp, cli):
    p = manifest(tmp / "manifest.jsonl", [{"audio": "a.wav", "label": "HAP"}])
    ser_error(p, f"{p}:1", "speaker")


@case("ser")
def ser_row_not_object(tmp, cli):
    p = manifest(tmp / "manifest.jsonl", [3])
    ser_error(p, f"{p}:1", "expected a JSON object")


@case("ser")
def ser_audio_not_a_string(tmp, cli):
    p = manifest(tmp / "manifest.jsonl", [{"audio": 7, "label": "HAP", "speaker": "1"}])
    ser_error(p, f"{p}:1: audio")


@case("ser")
def ser_label_a_list(tmp, cli):
    p = manifest(tmp / "manifest.jsonl", [{"audio": "a.wav", "label": ["HAP"], "speaker": 1}])
    ser_error(p, f"{p}:1: label")


@case("ser")
def ser_empty(tmp, cli):
    ser_error(manifest(tmp / "manifest.jsonl", []), "no clips")


@case("ser")
def ser_bom_accepted(tmp, cli):
    from speechbudget.tasks.ser.data import load_dataset
    row = json.dumps({"audio": "a.wav", "label": "HAP", "speaker": "1"}).encode()
    p = manifest(tmp / "manifest.jsonl", None, b"\xef\xbb\xbf" + row + b"\n")
    assert len(load_dataset(p).items) == 1


@case("ser")
def ser_not_a_dataset_folder(tmp, cli):
    (tmp / "d").mkdir()
    ser_error(tmp / "d", "not a SER dataset")


@case("ser")
def ser_fifo(tmp, cli):
    ser_error(fifo(tmp / "manifest.jsonl"), "not a regular file")


@case("ser")
def ser_same_dataset_error_type(tmp, cli):
    from speechbudget.errors import DatasetError
    from speechbudget.tasks.asr import data as asr
    from speechbudget.tasks.ser import data as ser
    assert asr.DatasetError is ser.DatasetError is DatasetError


@case("ser")
def ser_eval_of_a_folder_that_is_no_checkpoint(tmp, cli):
    (tmp / "ck").mkdir()
    cli("ser", "eval", tmp / "ck", "--data", tmp, "--device", "cpu", code=5,
        has=(str(tmp / "ck"), "not an SER checkpoint"))


@case("ser")
def ser_eval_of_a_damaged_checkpoint_description(tmp, cli):
    (tmp / "ck").mkdir()
    (tmp / "ck" / "ser_config.json").write_text('{"config": {"task": "ser"')  # cut short
    cli("ser", "eval", tmp / "ck", "--data", tmp, "--device", "cpu", code=5,
        has=(str(tmp / "ck" / "ser_config.json"), "not a readable SER checkpoint"))


# ---- specs ------------------------------------------------------------------------------------
@case("spec")
def yaml_alias_bomb(tmp, cli):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = ("task: asr\nmodels: [tiny.en]\ntask_options:\n" +
            "".join("  " + x + "\n" for x in lines))
    cli("sweep", "plan", spec_file(tmp, text=text), code=2, has=("alias", "100"))


@case("spec")
def few_aliases_but_huge_expansion(tmp, cli):
    from speechbudget.sweep.spec import SpecError, spec_from_dict
    x: list = ["v"] * 10
    for _ in range(8):
        x = [x] * 10  # shared lists: 10^9 values once expanded
    with pytest.raises(SpecError, match="100000 values once aliases are expanded"):
        spec_from_dict({"task": "asr", "models": ["tiny.en"], "task_options": {"x": x}})


@case("spec")
def tiny_step_range(tmp, cli):
    p = spec_file(tmp, axes={"window": {"start": 1, "stop": 30, "step": 0.00001}})
    cli("sweep", "plan", p, code=2, has=("axes.window", "2900001 values", "10000"))


@case("spec")
def plan_too_large(tmp, cli):
    p = spec_file(tmp, plan="grid", axes={"window": {"start": 2, "stop": 30, "step": 0.5},
                                          "stride": {"start": 1, "stop": 1000},
                                          "beam": [1, 2, 3, 4]})
    cli("sweep", "plan", p, code=2, has=("enumerates 228000 combinations", "100000"))


@case("spec")
def task_option_unknown(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, task_options={"batchsize": 4}), code=2,
        has=("task_options.batchsize", "batch_size"))


@case("spec")
def task_option_wrong_type(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, task_options={"batch_size": "8"}), code=2,
        has=("task_options.batch_size", "'8'", "int"))


@case("spec")
def task_option_nested(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, task_options={"seed": {"a": [1, 2]}}), code=2,
        has=("task_options.seed",))


@case("spec")
def task_option_schema_matches_the_tasks(tmp, cli):
    import dataclasses
    import inspect

    from speechbudget.sweep.spec_task_options import TASK_OPTIONS
    from speechbudget.tasks.asr.runner import AsrTask
    from speechbudget.tasks.ser.runner import SerTask
    from speechbudget.tasks.ser.options import TrainOptions
    asr = set(inspect.signature(AsrTask).parameters)
    ser = {k for k, v in inspect.signature(SerTask).parameters.items()
           if v.kind is not v.VAR_KEYWORD} | {f.name for f in dataclasses.fields(TrainOptions)}
    assert set(TASK_OPTIONS["asr"]) == asr and set(TASK_OPTIONS["ser"]) == ser


def runner_file(tmp: Path, name: str = "evil.py") -> Path:
    p = tmp / name
    p.write_text("from pathlib import Path\n"
                 "Path(__file__).with_name('IMPORTED').write_text('ran')\n"
                 "class Task:\n    pass\n")
    return p


@case("spec")
def plan_never_imports_a_runner(tmp, cli):
    runner_file(tmp)
    p = spec_file(tmp, runner="evil.py:Task")
    cli("sweep", "plan", p, code=0, has=(f"runner {tmp / 'evil.py'}:Task", "not imported"))
    assert not (tmp / "IMPORTED").exists()


@case("spec")
def run_refuses_a_runner_without_consent(tmp, cli):
    runner_file(tmp)
    p = spec_file(tmp, runner="evil.py:Task")
    cli("sweep", "run", p, "--store", tmp / "r.db", code=2,
        has=("--allow-runner", str(tmp / "evil.py")))
    assert not (tmp / "IMPORTED").exists() and not (tmp / "r.db").exists()


@case("spec")
def runner_resolved_relative_to_the_spec_not_the_cwd(tmp, cli, monkeypatch):
    (tmp / "specs").mkdir()
    (tmp / "cwd").mkdir()
    runner_file(tmp / "cwd")  # a runner.py in the current folder must not be used
    monkeypatch.chdir(tmp / "cwd")
    p = spec_file(tmp / "specs", runner="evil.py:Task")
    cli("sweep", "plan", p, code=2, has=(str(tmp / "specs" / "evil.py"), "does not exist"))
    assert not (tmp / "cwd" / "IMPORTED").exists()


@case("spec")
def runner_with_shell_characters(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, runner="x.py; rm -rf ~:Task"), code=2, has=("runner",))
    cli("sweep", "plan", spec_file(tmp, runner="os:system; ls"), code=2, has=("runner",))


@case("spec")
def python_tag_is_not_executed(tmp, cli):
    text = "task: asr\nmodels: [tiny.en]\nname: !!python/object/apply:os.system ['touch PWNED']\n"
    cli("sweep", "plan", spec_file(tmp, text=text), code=2, has=("not valid YAML",))
    assert not Path("PWNED").exists()


@case("spec")
def binary_spec(tmp, cli):
    p = tmp / "s.yaml"
    p.write_bytes(b"task: asr\x00\x01\x02")
    cli("sweep", "plan", p, code=2, has=("binary data",))


@case("spec")
def non_utf8_spec(tmp, cli):
    p = tmp / "s.yaml"
    p.write_bytes(b"task: asr\nname: caf\xe9\n")
    cli("sweep", "plan", p, code=2, has=(str(p), "not UTF-8"))


@case("spec")
def spec_is_a_list(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, text="- task\n- asr\n"), code=2, has=("expected a mapping",))


@case("spec")
def empty_spec(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, text=""), code=2, has=("expected a mapping",))


@case("spec")
def non_string_key(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, text="task: asr\n1: 2\n"), code=2, has=("keys must be",))


@case("spec")
def yaml_syntax_error(tmp, cli):
    cli("sweep", "plan", spec_file(tmp, text="task: [asr\n"), code=2, has=("not valid YAML",))


@case("spec")
def spec_is_a_folder_or_fifo(tmp, cli):
    (tmp / "d.yaml").mkdir()
    cli("sweep", "plan", tmp / "d.yaml", code=2, has=("not a regular file",))
    cli("sweep", "plan", fifo(tmp / "f.yaml"), code=2, has=("not a regular file",))


@case("spec")
def huge_spec_file(tmp, cli):
    p = tmp / "s.yaml"
    p.write_text("task: asr\n" + "#" * 1_100_000 + "\n")
    cli("sweep", "plan", p, code=2, has=("1000000",))


# ---- stores -----------------------------------------------------------------------------------
def foreign_sqlite(path: Path, table: str = "songs") -> Path:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE {table} (a TEXT)")
    con.execute(f"INSERT INTO {table} VALUES ('keep me')")
    con.commit()
    con.close()
    return path


def refused_unchanged(cli, store: Path, *args):
    before = digest(store)
    cli("sweep", "run", spec_file(store.parent), "--store", store, "--device", "cpu",
        "--no-progress", *args, code=4, has=(str(store), "not a speechbudget results store"))
    assert digest(store) == before


@case("store")
def another_tools_sqlite_is_refused_untouched(tmp, cli):
    refused_unchanged(cli, foreign_sqlite(tmp / "other.db"))
    con = sqlite3.connect(tmp / "other.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL


@case("store")
def sqlite_with_a_configs_table_is_refused(tmp, cli):
    refused_unchanged(cli, foreign_sqlite(tmp / "other.db", "configs"))


@case("store")
def non_sqlite_file_is_refused(tmp, cli):
    p = tmp / "notes.db"
    p.write_text("my notes, not a database\n" * 50)
    refused_unchanged(cli, p)


@case("store")
def readers_refuse_foreign_files(tmp, cli):
    p = foreign_sqlite(tmp / "other.db")
    before = digest(p)
    cli("runs", "list", p, code=4, has=(str(p), "not a speechbudget results store"))
    assert digest(p) == before


@case("store")
def empty_file_read_only(tmp, cli):
    p = tmp / "empty.db"
    p.write_bytes(b"")
    cli("runs", "list", p, code=4, has=(str(p), "empty file"))
    assert p.read_bytes() == b""


@case("store")
def store_path_with_uri_characters(tmp, cli):
    from speechbudget.axes import Config
    from speechbudget.sweep import ResultsStore
    for name in ("a#b.db", "q?x=1.db", "p%20c.db", "sp ace's.db"):
        p = tmp / name
        with ResultsStore(p) as st:
            st.register_config(Config(task="asr", model="tiny.en"), 1.0, {"d": 1}, None)
        def names():
            return sorted(x.name for x in tmp.iterdir() if not x.name.endswith(("-wal", "-shm")))
        before = names()
        with ResultsStore(p, readonly=True) as st:
            assert len(st.configs()) == 1
        cli("runs", "list", p, code=0)
        assert names() == before  # no stray file (a '#' once created an empty one)


@case("store")
def store_is_a_folder(tmp, cli):
    (tmp / "s.db").mkdir()
    cli("runs", "list", tmp / "s.db", code=4, has=("not a results store",))


@case("store")
def newer_schema_is_refused(tmp, cli):
    from speechbudget.sweep import ResultsStore, StoreError
    from speechbudget.sweep.store_schema import APPLICATION_ID
    p = tmp / "s.db"
    ResultsStore(p).close()
    con = sqlite3.connect(p)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(StoreError, match="schema 99, newer"):
        ResultsStore(p)
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


@case("store")
def stamp_is_written(tmp, cli):
    from speechbudget.sweep import ResultsStore
    from speechbudget.sweep.store_schema import APPLICATION_ID, SCHEMA_VERSION
    ResultsStore(tmp / "s.db").close()
    con = sqlite3.connect(tmp / "s.db")
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@case("store")
def legacy_unstamped_store_is_adopted(tmp, cli):
    from speechbudget.sweep import ResultsStore
    from speechbudget.sweep.store_schema import APPLICATION_ID, SCHEMA
    p = tmp / "old.db"
    con = sqlite3.connect(p)
    con.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS leases")[0])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.commit()
    con.close()
    with ResultsStore(p, readonly=True) as st:
        assert st.configs() == []
    ResultsStore(p).close()
    assert sqlite3.connect(p).execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


@case("store")
def lease_claims_are_exclusive(tmp, cli):
    from speechbudget.sweep import ResultsStore
    a, b = ResultsStore(tmp / "s.db"), ResultsStore(tmp / "s.db")
    assert a.claim_shard("k", "s0", "A", None, lease_s=30)
    assert not b.claim_shard("k", "s0", "B", None, lease_s=30)
    assert b.claim_shard("k", "s1", "B", None, lease_s=30)
    assert a.claim_shard("k", "s2", "A", None, lease_s=0.01)
    import time
    time.sleep(0.05)
    assert b.claim_shard("k", "s2", "B", None, lease_s=30)  # expired: taken over
    assert b.leased_by_others("k", "B") == {"s0"}


# ---- outputs ----------------------------------------------------------------------------------
@case("output")
def json_into_a_missing_folder_fails_before_work(tmp, cli):
    out = tmp / "nope" / "r.json"
    cli("asr", "eval", "--data", LIBRI, "--device", "cpu", "-o", out, code=6,
        has=("--out", "does not exist"))
    assert not out.exists()


@case("output")
def json_onto_a_folder(tmp, cli):
    (tmp / "r.json").mkdir()
    cli("asr", "eval", "--data", LIBRI, "--device", "cpu", "-o", tmp / "r.json", code=6,
        has=("is a folder",))


@case("output")
def json_read_only_file(tmp, cli):
    if is_root():
        pytest.skip("root may write a read-only file")
    p = tmp / "r.json"
    p.write_text("old")
    p.chmod(0o444)
    cli("asr", "eval", "--data", LIBRI, "--device", "cpu", "-o", p, code=6,
        has=("read-only",))
    assert p.read_text() == "old"


@case("output")
def export_onto_a_file(tmp, cli):
    from speechbudget.sweep import ResultsStore
    ResultsStore(tmp / "s.db").close()
    (tmp / "out").write_text("keep")
    cli("runs", "export", tmp / "s.db", "--out", tmp / "out", code=6,
        has=("exists and is not a folder",))
    assert (tmp / "out").read_text() == "keep"


@case("output")
def report_onto_a_file(tmp, cli):
    from speechbudget.sweep import ResultsStore
    ResultsStore(tmp / "s.db").close()
    (tmp / "rep").write_text("keep")
    r = cli("report", tmp / "s.db", "-o", tmp / "rep")
    assert r.exit_code in (2, 6) and (tmp / "rep").read_text() == "keep"


@case("output")
def atomic_write_keeps_the_old_file_on_failure(tmp, cli, monkeypatch):
    from speechbudget import errors
    p = tmp / "r.json"
    p.write_text("old")

    def boom(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(errors.os, "replace", boom)
    with pytest.raises(OSError):
        errors.write_atomic(p, "new" * 1000)
    assert p.read_text() == "old" and [x.name for x in tmp.iterdir()] == ["r.json"]


@case("output")
def export_files_are_whole(tmp, cli):
    from speechbudget.sweep import ResultsStore
    with ResultsStore(tmp / "s.db") as st:
        paths = st.export_csv(tmp / "x")
    assert {p.name for p in paths} == {"runs.csv", "configs.csv", "shards.csv", "items.csv",
                                       "metrics.csv"}
    assert not [x for x in (tmp / "x").iterdir() if x.name.endswith(".tmp")]


# ---- model cache ------------------------------------------------------------------------------
def _ct2_helpers():
    import importlib.util
    import sys
    p = REPO / "tests" / "models" / "test_ct2.py"
    spec = importlib.util.spec_from_file_location("_ct2_helpers_for_corpus", p)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ct2_source(tmp_path_factory):
    h = _ct2_helpers()
    folder = h.write_ct2_folder(tmp_path_factory.mktemp("ct2") / "tiny", h.tiny_whisper(seed=3))
    return folder


@case("cache")
def truncated_cache_file_is_rebuilt(tmp, cli, ct2_source):
    from speechbudget.models.ct2_to_hf import CT2Source, convert_cached, verify_cached
    src = CT2Source.from_folder(ct2_source)
    first = convert_cached(src, tmp)
    f = first / "model.safetensors"
    good = f.read_bytes()
    f.write_bytes(good[: len(good) // 3])
    assert "model.safetensors" in verify_cached(first) and "truncated" in verify_cached(first)
    with pytest.warns(UserWarning, match="model cache damaged"):
        again = convert_cached(src, tmp)
    assert again == first and f.read_bytes() == good and verify_cached(again) is None


@case("cache")
def corrupted_cache_byte_is_detected(tmp, cli, ct2_source):
    from speechbudget.models.ct2_to_hf import CT2Source, convert_cached, verify_cached
    first = convert_cached(CT2Source.from_folder(ct2_source), tmp)
    f = first / "config.json"
    b = bytearray(f.read_bytes())
    b[5] ^= 1
    f.write_bytes(bytes(b))
    assert "SHA-256" in verify_cached(first) and "config.json" in verify_cached(first)


@case("cache")
def orphan_temporary_folder_is_removed(tmp, cli, ct2_source):
    from speechbudget.models import ct2_to_hf
    src = ct2_to_hf.CT2Source.from_folder(ct2_source)
    orphan = tmp / f".{src.name}-deadbeef"
    orphan.mkdir()
    (orphan / "model.safetensors").write_bytes(b"half")
    os.utime(orphan, (1, 1))
    young = tmp / f".{src.name}-young"
    young.mkdir()  # another process converting right now: left alone
    ct2_to_hf.convert_cached(src, tmp)
    assert not orphan.exists() and young.exists()


@case("cache")
def unfinished_final_folder_is_replaced(tmp, cli, ct2_source):
    from speechbudget.models.ct2_to_hf import CT2Source, convert_cached, verify_cached
    src = CT2Source.from_folder(ct2_source)
    final = convert_cached(src, tmp)
    (final / "source.json").unlink()
    assert verify_cached(convert_cached(src, tmp)) is None


# ---- faults -----------------------------------------------------------------------------------
@case("fault")
def unexpected_error_is_one_line_and_exit_70(tmp, cli, monkeypatch):
    from speechbudget.sweep import spec as spec_mod

    def boom(*a, **k):
        raise RuntimeError("boom in load_spec")
    monkeypatch.setattr(spec_mod, "load_spec", boom)
    r = cli("sweep", "plan", spec_file(tmp), code=70,
            has=("internal error: RuntimeError: boom in load_spec", "--debug"))
    assert len(r.stderr.strip().splitlines()) == 1


@case("fault")
def debug_shows_the_traceback(tmp, cli, monkeypatch):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    from speechbudget.sweep import spec as spec_mod
    monkeypatch.setattr(spec_mod, "load_spec", lambda *a, **k: 1 / 0)
    r = CliRunner().invoke(app, ["--debug", "sweep", "plan", str(spec_file(tmp))])
    assert isinstance(r.exception, ZeroDivisionError)


@case("fault")
def domain_error_escaping_a_command_gets_its_exit_code(tmp, cli, monkeypatch):
    from speechbudget.sweep import store as store_mod
    # the runner is imported before data.load_dataset is patched: imported during the patch, it
    # would bind the patched function, and monkeypatch would 'restore' that one for later cases
    from speechbudget.tasks.asr import data, runner

    def bad(*a, **k):
        raise store_mod.StoreError("x.db: locked by a test")
    monkeypatch.setattr(data, "load_dataset", bad)
    monkeypatch.setattr(runner, "load_dataset", bad)
    cli("asr", "eval", "--data", LIBRI, "--device", "cpu", code=4,
        has=("error: x.db: locked by a test",))


@case("fault")
def interrupted_sweep_keeps_finished_shards(tmp, cli, monkeypatch):
    from speechbudget.sweep import ResultsStore
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", "2")
    db = tmp / "r.db"
    cli("sweep", "run", runner_spec(tmp), "--store", db, "--no-progress", "--device", "cpu",
        "--allow-runner", code=130, has=("interrupted", "resume"))
    with ResultsStore(db, readonly=True) as st:
        assert st.db.execute("SELECT count(*) FROM shards WHERE status='done'").fetchone()[0] == 2
        assert st.n_items() == 4 and st.runs()[-1]["status"] == "interrupted"
        assert st.db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0


@case("fault")
def failing_configuration_exits_1_and_keeps_the_rest(tmp, cli):
    from speechbudget.sweep import ResultsStore
    db = tmp / "r.db"
    p = spec_file(tmp, runner=FAKE_RUNNER, models=["tiny.en", "base"],
                  task_options={"n_items": 4, "batch_size": 2, "fail_models": ["base"]})
    cli("sweep", "run", p, "--store", db, "--no-progress", "--device", "cpu", "--allow-runner",
        code=1, has=("1 failed",))
    with ResultsStore(db, readonly=True) as st:
        failed = st.configs(status="failed")
        assert len(failed) == 1 and "cannot load model base" in failed[0]["reason"]
        assert len(st.metrics()) == 2


# ---- injection --------------------------------------------------------------------------------
@case("injection")
def markdown_escapes_markup(tmp, cli):
    from speechbudget.report.markdown import md_text
    s = md_text('<img src=x onerror=alert(1)> [click](javascript:alert(1)) **x** | a\n# h')
    assert "<" not in s and "](" not in s and "**" not in s and "\n" not in s
    assert "\\|" in s and "\\#" in s


@case("injection")
def summary_escapes_the_stored_environment(tmp, cli):
    from speechbudget.report.markdown import render_markdown
    from speechbudget.analysis.recommend import Limits

    class D:  # the fields render_markdown reads
        title = "t <script>x</script>"
        source = "s.db"
        limits = Limits()
        machine = {"cpu": "<script>alert(1)</script>", "cores": 2}
        tasks: list = []
        left_out: list = ["ASR left out: <script>x</script>"]
    md = render_markdown(D(), tmp)
    assert "<script>" not in md and "&lt;script&gt;" in md


@case("injection")
def spec_name_with_markup_is_stored_as_data(tmp, cli):
    from speechbudget.sweep.spec import load_spec
    p = spec_file(tmp, "evil_name", text=yaml.safe_dump({
        "task": "asr", "models": ["tiny.en"], "name": "<b>x</b>'; DROP TABLE runs; --"}))
    s = load_spec(p)
    assert s.name == "<b>x</b>'; DROP TABLE runs; --"


@case("injection")
def sql_in_a_config_key_is_a_parameter(tmp, cli):
    from speechbudget.sweep import ResultsStore
    with ResultsStore(tmp / "s.db") as st:
        assert st.shard_status("x' OR '1'='1") == {}
        assert st.n_items("'; DROP TABLE items; --") == 0
        assert st.db.execute("SELECT count(*) FROM items").fetchone()[0] == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, cli, request):
    fn = CASES[name]
    import inspect
    kwargs = {}
    params = inspect.signature(fn).parameters
    if "monkeypatch" in params:
        kwargs["monkeypatch"] = request.getfixturevalue("monkeypatch")
    if "ct2_source" in params:
        kwargs["ct2_source"] = request.getfixturevalue("ct2_source")
    fn(tmp_path, cli, **kwargs)


def test_the_corpus_covers_every_category():
    cats = {k.split(":")[0] for k in CASES}
    assert cats == {"audio", "manifest", "cli", "ser", "spec", "store", "output", "cache",
                    "fault", "injection"}
    assert len(CASES) >= 60
