"""A model name written as a path is a folder: 'tiny.en/' (no such folder) was tried as the hub id
'tiny.en/' ("Repo id must use alphanumeric chars ... Pass a local folder, or a registry name",
exit 5), and './tiny.en' got "no such folder, and not a registry name (tiny.en, ...)". Now both say
"no such folder (PATH)" with what the name less its path means; `asr eval --model` says the same
(exit 2). A registry name with a trailing slash is a folder when it is one."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

import speechbudget.models.loading as loading
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.loading import load_ssl_backbone, load_whisper
from speechbudget.models.model_names import looks_like_path
from tests.models.test_ct2 import tiny_whisper, write_ct2_folder
from tests.models.test_loading import save_tokenizer


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """Any attempt to load from the hub fails the test; the working folder is empty."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(loading, "hub_options",
                        lambda where: pytest.fail(f"{where!r} was taken for a hub id"))


@pytest.mark.parametrize("name,hint", [
    ("tiny.en/", "without the trailing slash, 'tiny.en' names the registry model"),
    ("whisper-base/", "'whisper-base' names the registry model 'base'"),
    ("./tiny.en", "'tiny.en' (not a path) names the registry model"),
    ("openai/whisper-tiny.en/", "'openai/whisper-tiny.en' is a hub id"),
    ("./nope", ""), ("models/whisper/tiny", ""),
    ("models/tiny", ""),   # beside a folder 'models': was tried as the hub id 'models/tiny'
])
def test_a_path_looking_name_that_is_no_folder(no_hub, tmp_path, name, hint):
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelLoadError) as e:
        load_whisper(name)
    msg = str(e.value)
    assert msg.startswith(f"{name!r}: no such folder ({tmp_path}"), msg
    assert hint in msg and "not a registry name" not in msg, msg


def test_an_ssl_name_written_as_a_path(no_hub):
    with pytest.raises(ModelLoadError, match=r"no such folder .*'wavlm-base-plus' \(not a path\)"):
        load_ssl_backbone("./wavlm-base-plus")


def test_a_registry_name_with_a_slash_is_the_folder_when_there_is_one(no_hub, tmp_path):
    d = write_ct2_folder(tmp_path / "tiny.en", tiny_whisper(seed=1), "float16")
    save_tokenizer(d)
    b = load_whisper("tiny.en/")
    assert b.source.startswith("ctranslate2:") and b.source.endswith("tiny.en")


def test_looks_like_path():
    assert all(map(looks_like_path, ["./m", "../m", "/m", "~/m", "m/", "a/b/c"]))
    assert not any(map(looks_like_path, ["tiny.en", "openai/whisper-tiny.en", "whisper-base"]))


def test_asr_eval_says_no_such_folder(tmp_path, monkeypatch):
    from speechbudget.cli import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["asr", "eval", "--model", "tiny.en/", "--data", str(tmp_path)])
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "no such folder" in text and "'tiny.en' names the registry model" in text, text


def test_a_home_of_no_user_is_no_such_folder(no_hub, tmp_path):
    """'~nosuchuser/m' (a user without a home) was RuntimeError 'Could not determine home
    directory' from pathlib's expanduser: exit 70 from transcribe and asr eval."""
    from speechbudget.cli import app

    name = "~speechbudget-no-such-user/m"
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_whisper(name)
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_ssl_backbone(name)
    r = CliRunner().invoke(app, ["asr", "eval", "--model", name, "--data", str(tmp_path)])
    assert r.exit_code == 2 and "no such folder" in " ".join(r.output.split()), r.output


def test_a_file_of_a_model_folder_and_an_empty_name_are_named(no_hub, tmp_path):
    # was "FOLDER/config.json: neither a Hugging Face model folder (config.json) nor a
    # CTranslate2 one (model.bin)", and for '' (the working folder) ".: neither ..."
    d = tmp_path / "hf"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "whisper"}')
    with pytest.raises(ModelLoadError, match=rf"config\.json: a file, not a model folder; pass "
                                             rf"the folder that holds the model \({d}\)"):
        load_whisper(str(d / "config.json"))
    with pytest.raises(ModelLoadError, match=r"config\.json: a file, not a model folder"):
        load_ssl_backbone(str(d / "config.json"))  # was "not a ... model folder (no config.json)"
    with pytest.raises(ModelLoadError, match="'': an empty model name; expected a registry name"):
        load_whisper("")
