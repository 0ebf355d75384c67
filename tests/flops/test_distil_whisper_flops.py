"""`speechbudget flops --model distil-...`: the Distil-Whisper rows' analytic FLOPs equal
FlopCounterMode's count on the meta device (the pattern of test_analytic_vs_measured)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.flops import estimate
from speechbudget.flops.measure import measure

REL = 1e-9


@pytest.mark.parametrize("kw,tokens", [
    (dict(model="distil-small.en", window=5), 3),
    (dict(model="distil-small.en", window=7.02, stride=2, stride_at=4), 4),
    (dict(model="distil-medium.en", window=2), 2),
    (dict(model="distil-large-v2", window=3, beam_size=2), 2),
    (dict(model="distil-large-v3", window=30, stride=2, stride_at=16), 2),
])
def test_analytic_equals_measured(kw, tokens):
    c = Config(task="asr", **kw)
    a = estimate(c, decoded_tokens=tokens)
    m = measure(c, decoded_tokens=tokens)
    assert abs(a.total - m.total) <= REL * m.total, (c.label, a.total, m.total)
    for k in set(a.breakdown) | set(m.breakdown):
        x, y = a.breakdown.get(k, 0.0), m.breakdown.get(k, 0.0)
        assert abs(x - y) <= REL * max(x, y) + 1e-9, (c.label, k, x, y)
    assert a.encoder_tokens == m.encoder_tokens


def test_flops_command_knows_distil_large_v3():
    r = CliRunner().invoke(app, ["flops", "--model", "distil-large-v3", "--window", "30",
                                 "--tokens", "20", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    want = estimate(Config(task="asr", model="distil-large-v3"), decoded_tokens=20)
    assert out["analytic"]["total"] == want.total
    # two decoder layers: the decoder is a fraction of large-v3's, the encoder the same
    v3 = estimate(Config(task="asr", model="large-v3"), decoded_tokens=20).breakdown
    got = out["analytic"]["breakdown"]
    assert got["encoder.ffn"] == v3["encoder.ffn"]
    assert got["decoder.ffn"] * 16 == pytest.approx(v3["decoder.ffn"])


def test_flops_command_takes_the_hub_id():
    r = CliRunner().invoke(app, ["flops", "--model", "distil-whisper/distil-small.en",
                                 "--window", "10", "--tokens", "5", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["config"]["model"] == "distil-small.en"
