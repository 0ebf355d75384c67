"""Bad sweep files met by `sweep plan` / `sweep run`: each is one line naming the file and the
key, with the exit code of docs/security.md (2; --data 3), never a traceback or exit 70.
Cheap: the test-double task (tests/sweep/fake_task.py), no model."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)
LIBRI = Path(__file__).resolve().parents[2] / "data" / "librispeech_sample"
FAKE = Path(__file__).resolve().parents[2] / "tests" / "sweep" / "fake_task.py"


# ---- sweep files --------------------------------------------------------------------------------
@pytest.mark.parametrize("rng", [{"start": float("nan"), "stop": 30, "step": 1},
                                 {"start": 1, "stop": float("inf"), "step": 1},
                                 {"start": 1, "stop": 30, "step": float("nan")}])
def test_a_range_with_nan_or_inf_is_a_spec_error(tmp_path, cli, rng, spec_file):
    cli("sweep", "plan", spec_file(tmp_path, axes={"window": rng}), code=2,
        has=("axes.window", "range"))


@pytest.mark.parametrize("models", [[{"a": 1}], [1.5], [None, "tiny.en"]])
def test_a_model_that_is_not_a_name_is_a_spec_error(tmp_path, cli, models, spec_file):
    cli("sweep", "plan", spec_file(tmp_path, models=models), code=2,
        has=("models[0]", "expected a model name"))


@pytest.mark.parametrize("growth", [float("nan"), float("inf")])
def test_a_race_growth_that_is_not_finite_is_refused(tmp_path, cli, growth, spec_file):
    cli("sweep", "plan", spec_file(tmp_path, plan={"type": "grid", "race": {"growth": growth}}),
        code=2, has=("plan.race.growth",))


def test_a_yaml_syntax_error_is_one_line_with_its_line_and_column(tmp_path, cli, spec_file):
    text = f"task: asr\ndata: {LIBRI}\nmodels: [tiny.en]\naxes: {{window: [30, 10}}\n"
    r = cli("sweep", "plan", spec_file(tmp_path, text), code=2,
            has=("not valid YAML", "line 4, column 23", "expected ',' or ']'"))
    assert len(r.output.strip().splitlines()) == 1, r.output


@pytest.mark.parametrize("body, has", [
    ("models: 5\naxes: {window: [30]}\n", ("line 3", "models: 5:")),
    ("models:\n  - tiny.en\n  - 7\naxes: {window: [30]}\n", ("line 5", "models[1]: 7:")),
    ("models: [tiny.en]\naxes:\n  stride: [1]\n  window: []\n", ("line 6", "axes.window")),
    ("models: [tiny.en]\naxes: {window: [30]}\nbogus: 1\n", ("line 5", "bogus: unknown key")),
    ("models: [tiny.en]\naxes: {window: [30]}\nplan: {type: grid, race: {growth: -1}}\n",
     ("line 5", "plan.race.growth")),
])
def test_a_spec_error_names_the_line(tmp_path, cli, spec_file, body, has):
    """The error named the file and the key but not where: 'models: expected a non-empty list
    of model names' for `models: 5` somewhere in the file."""
    path = spec_file(tmp_path, f"task: asr\ndata: {LIBRI}\n{body}")
    r = cli("sweep", "plan", path, code=2, has=(f"{path}, {has[0]}:", *has[1:]))
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_a_key_given_twice_is_refused_not_silently_overwritten(tmp_path, cli, spec_file):
    text = (f"task: asr\ndata: {LIBRI}\nmodels: [tiny.en]\n"
            "axes:\n  window: [30]\n  stride: [1]\n  window: [10]\n")
    cli("sweep", "plan", spec_file(tmp_path, text), code=2,
        has=("line 7", "'window' given twice", "line 5"))
    text = f"task: asr\ntask: ser\ndata: {LIBRI}\nmodels: [tiny.en]\n"
    cli("sweep", "plan", spec_file(tmp_path, text), code=2, has=("'task' given twice",))


def test_merge_keys_may_still_override(tmp_path, spec_file):
    from speechbudget.sweep import load_spec
    text = (f"task: asr\ndata: {LIBRI}\nmodels: [tiny.en]\n"
            "plan: {<<: {type: star}, type: grid}\n")
    assert load_spec(spec_file(tmp_path, text)).plan.type == "grid"


@pytest.mark.parametrize("keys, needle", [
    ({"task_options": {"n_items": 4, "bogus": 3}}, "task_options"),   # the class refuses it
    ({"runner": f"{FAKE}:NoSuchClass"}, "runner"),
    ({"runner": "no_such_package_x.mod:Task"}, "runner"),
])
def test_a_runner_or_its_options_that_do_not_fit_are_spec_errors(tmp_path, cli, keys, needle,
                                                                  spec_file):
    p = spec_file(tmp_path, **keys)
    cli("sweep", "run", p, tmp_path / "r.db", "--allow-runner", "--no-progress",
        "--device", "cpu", code=2, has=(str(p), needle))


def test_a_built_in_task_option_out_of_range_names_the_spec(tmp_path, cli, spec_file):
    p = spec_file(tmp_path, runner=None, models=["tiny.en"], task_options={"batch_size": 0})
    cli("sweep", "run", p, tmp_path / "r.db", "--no-progress", "--device", "cpu", code=2,
        has=(str(p), "task_options", "batch_size=0"))


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_missing_data_option_is_a_dataset_error(tmp_path, cli, command, spec_file):
    store = () if command == "plan" else (tmp_path / "r.db",)
    cli("sweep", command, spec_file(tmp_path), *store, "--data", tmp_path / "nope",
        "--allow-runner" if command == "run" else "--json", code=3, has=("--data", "nope"))
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("plan, key", [
    ({"type": "iso_flops", "budgets_gflops": [float("inf")]}, "plan.budgets_gflops"),
    ({"type": "iso_flops", "budgets_gflops": [20], "audio_s": float("nan")}, "plan.audio_s"),
    ({"type": "iso_flops", "budgets_gflops": [20], "audio_s": float("inf")}, "plan.audio_s"),
])
def test_iso_flops_budgets_and_lengths_must_be_finite(tmp_path, cli, plan, key, spec_file):
    # an infinite budget printed 'Infinity' in `sweep plan --json` (not JSON); NaN seconds gave
    # NaN FLOPs
    cli("sweep", "plan", spec_file(tmp_path, plan=plan), code=2, has=(key,))


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0"])
def test_plan_audio_s_option_must_be_seconds(tmp_path, cli, value, spec_file):
    # -5 gave 'n/a' FLOPs and 0 was taken as unset, silently
    cli("sweep", "plan", spec_file(tmp_path), "--audio-s", value, code=2, has=("--audio-s",))


@pytest.mark.parametrize("keys", [{}, {"runner": None, "task_options": {}, "data": "."}])
def test_plan_json_is_the_only_thing_on_stdout(tmp_path, cli, keys, spec_file):
    """A runner spec ('not imported by plan') or an unreadable dataset (data '.': the spec's own
    folder, no dataset) printed a note on stdout before the JSON; notes go to stderr."""
    import json
    r = cli("sweep", "plan", spec_file(tmp_path, **keys), "--json", code=0)
    doc = json.loads(r.stdout)
    assert doc["items"] is None and r.stderr.strip()


def test_sweep_run_exits_1_when_items_failed(tmp_path, cli, spec_file):
    """docs/security.md: exit 1 means items or configurations failed. A configuration whose
    items failed (every one, even: its WER is NaN) was counted 'finished, 0 failed', exit 0."""
    runner = tmp_path / "broken_items.py"
    runner.write_text(
        "import importlib.util, sys\n"
        "from speechbudget.records import ItemResult\n"
        f"s = importlib.util.spec_from_file_location('fake_task_for_test', {str(FAKE)!r})\n"
        "m = sys.modules['fake_task_for_test'] = importlib.util.module_from_spec(s)\n"
        "s.loader.exec_module(m)\n"
        "class Task(m.FakeTask):\n"
        "    def run_shard(self, config, dataset, shard, device, cache=None):\n"
        "        out = super().run_shard(config, dataset, shard, device, cache)\n"
        "        out[0] = ItemResult(out[0].item_id, False, error='unreadable audio')\n"
        "        return out\n")
    p = spec_file(tmp_path, runner="broken_items.py:Task")
    cli("sweep", "run", p, tmp_path / "r.db", "--allow-runner", "--no-progress", code=1,
        has=("item(s) failed", "runs show"))
    cli("sweep", "run", spec_file(tmp_path, name="ok"), tmp_path / "ok.db", "--allow-runner",
        "--no-progress", code=0)


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")])
def test_deeply_nested_yaml_is_a_spec_error(tmp_path, cli, opening, closing, spec_file):
    # a few kilobytes of brackets made PyYAML recurse past Python's limit: exit 70
    n = 5000
    text = f"task: asr\nmodels: [tiny.en]\nname: {opening * n}1{closing * n}\n"
    cli("sweep", "plan", spec_file(tmp_path, text), code=2, has=("nested too deeply",))
