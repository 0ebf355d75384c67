"""The architecture a configuration names must be that of the weights loaded for it: a sweep's
ASR `model_path` or SER `--arch` naming base for tiny.en's weights computed base's FLOPs while
tiny.en ran. Now ConfigError (exit 2), one line naming both; weights of no registry size keep
the architecture the user names for them (a custom model, the tests' small stand-ins)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from speechbudget.architectures import get_architecture
from speechbudget.axes import Config, ConfigError
from speechbudget.models.weights_arch import check_weights_arch
from speechbudget.models.offline import offline_installed


def test_check_weights_arch_names_both():
    tiny_en = get_architecture("tiny.en")
    check_weights_arch("tiny.en", tiny_en, "w")
    check_weights_arch("openai/whisper-tiny.en", tiny_en, "w")      # a hub id of the same
    check_weights_arch("tiny", tiny_en, "w", encoder_only=True)     # SER: same encoder
    with pytest.raises(ConfigError, match=r"tiny.en's, not tiny's \(vocab_size=51864 vs 51865"):
        check_weights_arch("tiny", tiny_en, "w")                    # ASR: another vocabulary
    with pytest.raises(ConfigError) as e:
        check_weights_arch("base", tiny_en, "/m/tiny")
    assert e.value.field == "model" and "\n" not in str(e.value)
    assert "/m/tiny are tiny.en's, not base's (d_model=384 vs 512" in str(e.value)
    with pytest.raises(ConfigError, match="whisper, not wav2vec2"):
        check_weights_arch("wav2vec2-base", tiny_en, "w")
    custom = dataclasses.replace(tiny_en, name="mine",
                                 dims=dataclasses.replace(tiny_en.dims, d_model=32))
    check_weights_arch("base", custom, "w")      # no registry size: described as base


needs_tiny = pytest.mark.skipif(not offline_installed("tiny.en"),
                                reason="the bundled tiny.en weights are not installed")


@needs_tiny
def test_asr_model_path_of_another_architecture_is_refused():
    from speechbudget.models.offline import offline_source
    from speechbudget.tasks.asr.runner import AsrTask
    folder = str(offline_source("tiny.en").folder)
    task = AsrTask(model_path=folder)
    assert task.bundle("tiny.en", "cpu").arch.dims == get_architecture("tiny.en").dims
    with pytest.raises(ConfigError, match=f"{folder} are tiny.en's, not base's"):
        task.bundle("base", "cpu")


@needs_tiny
def test_ser_arch_of_other_weights_is_refused(tmp_path):
    from speechbudget.cli import app
    from speechbudget.tasks.ser.backbone import build_backbone
    from speechbudget.tasks.ser.data import LABELS
    with pytest.raises(ConfigError, match="tiny.en's, not base's"):
        build_backbone(Config(task="ser", model="base", window=1.0), "tiny.en")
    rows = []
    t = np.arange(8000) / 16000
    for s in range(3):
        for i, lab in enumerate(LABELS):
            sf.write(tmp_path / f"{s}{lab}.wav", (0.2 * np.sin(2 * np.pi * (300 + 90 * i) * t))
                     .astype(np.float32), 16000)
            rows.append({"id": f"{s}{lab}", "audio": f"{s}{lab}.wav", "label": lab,
                         "speaker": f"s{s}"})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(app, ["ser", "train", "--model", "tiny.en", "--arch", "base",
                                 "--data", str(tmp_path / "m.jsonl"), "--out", str(tmp_path / "o"),
                                 "--folds", "3", "--epochs", "1", "--duration", "0.5",
                                 "--no-progress"])
    assert r.exit_code == 2, r.output
    assert "invalid model='base': the weights loaded from tiny.en are tiny.en's, not base's" \
        in " ".join(r.output.split())


def test_encoder_only_weights_are_named_by_their_own_architecture():
    # SER compares encoders only, and base's encoder is base.en's: base's weights (a SER
    # backbone of base) were named 'base.en's' (the first registry size with that encoder)
    base = get_architecture("base")
    with pytest.raises(ConfigError) as e:
        check_weights_arch("tiny.en", base, "base", encoder_only=True)
    assert "the weights loaded from base are base's, not tiny.en's (d_model=512 vs 384" \
        in str(e.value) and "name the architecture of the weights (base)" in str(e.value)
    assert "base.en" not in str(e.value)
    with pytest.raises(ConfigError, match=r"are small.en's, not tiny's"):
        check_weights_arch("tiny", get_architecture("small.en"), "x", encoder_only=True)
    # an encoder of a registry size under a decoder of none: the sizes with that encoder
    odd = dataclasses.replace(base, name="mine", dims=dataclasses.replace(base.dims,
                                                                          decoder_layers=2))
    with pytest.raises(ConfigError, match=r"are base.en's or base's, not tiny's"):
        check_weights_arch("tiny", odd, "x", encoder_only=True)


@pytest.mark.skipif(not offline_installed("base"), reason="the bundled base weights are not "
                    "installed")
def test_a_ser_backbone_of_base_weights_is_named_base():
    from speechbudget.tasks.ser.backbone import build_backbone
    with pytest.raises(ConfigError, match=r"the weights loaded from base are base's, not "
                                          r"tiny.en's"):
        build_backbone(Config(task="ser", model="tiny.en", window=1.0), "base")


def test_architecture_of_a_config_of_another_model_is_a_model_load_error():
    """Its family check came after reading wav2vec2-only fields: a BERT config was an
    AttributeError ('BertConfig' has no 'feat_extract_norm'), never the message."""
    from transformers import BertConfig

    from speechbudget.models.load_error import ModelLoadError
    from speechbudget.models.weights_arch import architecture_of

    with pytest.raises(ModelLoadError, match="'m': a 'bert' model, expected wav2vec2"):
        architecture_of("m", BertConfig())
