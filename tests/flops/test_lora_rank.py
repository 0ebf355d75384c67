"""`speechbudget flops --adapt lora --rank 5000` on tiny.en printed an estimate although the rank is
above every adapted weight's dimensions (training refuses it: models.lora_targets.check_lora_rank).
The FLOPs path now applies the same rule (adaptation.check_rank_limits) to the architecture's
dimensions: ConfigError naming adaptation.rank, exit 2 naming --rank."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.cli import app
from speechbudget.flops import estimate, training_flops
from speechbudget.models.lora_targets import check_lora_rank
from speechbudget.models.registry import build_from_config


def test_flops_cli_refuses_a_rank_above_the_weights():
    r = CliRunner().invoke(app, ["flops", "--model", "tiny.en", "--adapt", "lora",
                                 "--rank", "5000"])
    assert r.exit_code == 2, r.output
    assert "adaptation.rank=5000" in r.output and "--rank" in r.output
    assert "at most 384" in " ".join(r.output.split())
    ok = CliRunner().invoke(app, ["flops", "--model", "tiny.en", "--adapt", "lora",
                                  "--rank", "384"])
    assert ok.exit_code == 0, ok.output


def test_estimate_and_training_flops_refuse_it():
    cfg = Config(task="ser", model="wavlm-base-plus",
                 adaptation=Adaptation(method="lora", rank=769))
    with pytest.raises(ConfigError) as e:
        estimate(cfg)
    assert e.value.field == "adaptation.rank"
    with pytest.raises(ConfigError, match="adaptation.rank"):
        training_flops(cfg, 10, 1)


def _encoder(arch: str):
    model = build_from_config(arch, device="meta")
    return model.model.encoder if hasattr(model, "model") else model


@pytest.mark.parametrize("model,adaptation", [
    ("tiny.en", dict(method="lora")),
    ("tiny.en", dict(method="lora", targets=("fc1", "fc2"))),
    ("base", dict(method="dama")),
    ("wavlm-base-plus", dict(method="lora", targets=("gru_rel_pos_linear",))),
    ("wavlm-base-plus", dict(method="lora", lora_top=2)),
    ("hubert-base", dict(method="dama", targets=("q_proj", "intermediate_dense"))),
])
def test_flops_and_training_agree_on_the_largest_rank(model, adaptation):
    """The FLOPs path's rule, on dimensions, refuses exactly what training's refuses on the
    modules: the same largest rank, the same message."""
    encoder = _encoder(model)
    task = "asr" if model in ("tiny.en", "base") and adaptation["method"] == "lora" else "ser"
    errors = {}
    for rank in (4, 5000):
        cfg = Config(task=task, model=model, adaptation=Adaptation(rank=rank, **adaptation))
        got = []
        for check in (lambda: estimate(cfg), lambda: check_lora_rank(encoder, cfg.adaptation)):
            try:
                check()
                got.append(None)
            except ConfigError as e:
                got.append(str(e))
        errors[rank] = got
    assert errors[4] == [None, None]
    flops_msg, train_msg = errors[5000]
    assert flops_msg is not None and train_msg is not None
    allowed = lambda m: m.rsplit("at most ", 1)[1]  # noqa: E731
    assert allowed(flops_msg) == allowed(train_msg)
    assert flops_msg.split(" weight of ")[1] == train_msg.split(" weight of ")[1]
