"""Kaldi table lines (wav.scp, text, segments, utt2spk) split only on ASCII whitespace, as
Kaldi's SplitStringOnFirstSpace / SplitStringToVector (" \\t..."). We split with str.split(),
which also splits on U+00A0 (no-break space, French typography), U+3000 (ideographic space),
U+2009 and the like: a transcript lost the no-break space that began it, a segments line
'0\\u00a01' read as two times, and a recording id or path holding U+3000 was cut there."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.datasets import DatasetError, open_dataset

NBSP, IDEO, THIN = "\u00a0", "\u3000", "\u2009"


@pytest.fixture
def kaldi(tmp_path):
    k = tmp_path / "k"
    k.mkdir()
    sf.write(k / "a.wav", np.zeros(16000, np.float32), 16000)
    return k


def test_a_transcript_keeps_its_no_break_spaces(kaldi):
    (kaldi / "wav.scp").write_text("s1 a.wav\ns2 a.wav\n", encoding="utf-8")
    (kaldi / "text").write_text(f"s1 {NBSP}«{NBSP}bonjour{NBSP}»{NBSP}\n"
                                f"s2\t  le{THIN};  monde \t\n", encoding="utf-8")
    texts = {r.id: r.text for r in open_dataset(kaldi).records}
    assert texts == {"s1": f"{NBSP}«{NBSP}bonjour{NBSP}»{NBSP}", "s2": f"le{THIN};  monde"}


def test_an_id_and_a_path_holding_an_ideographic_space(kaldi):
    sf.write(kaldi / f"{IDEO}b.wav", np.zeros(8000, np.float32), 16000)
    (kaldi / "wav.scp").write_text(f"r{IDEO}1 {IDEO}b.wav\nr2 a.wav\n", encoding="utf-8")
    (kaldi / "text").write_text("s1 A\ns2 B\n", encoding="utf-8")
    (kaldi / "segments").write_text(f"s1 r{IDEO}1 0 0.25\ns2 r2 0 0.5\n", encoding="utf-8")
    (kaldi / "utt2spk").write_text(f"s1 spk{NBSP}A\ns2 B\n", encoding="utf-8")
    ds = open_dataset(kaldi)
    one = ds.records[0]
    assert (one.id, one.path.name, one.start_s, one.end_s, one.speaker) == \
        ("s1", f"{IDEO}b.wav", 0.0, 0.25, f"spk{NBSP}A")
    assert one.problem is None and ds.read_audio(one).shape == (4000,)


def test_a_no_break_space_does_not_separate_segment_fields(kaldi):
    (kaldi / "wav.scp").write_text("r1 a.wav\n", encoding="utf-8")
    (kaldi / "text").write_text("s1 A\n", encoding="utf-8")
    (kaldi / "segments").write_text(f"s1 r1 0{NBSP}0.5\n", encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        open_dataset(kaldi)
    assert str(e.value) == (f"{kaldi / 'segments'}:1: expected 4 fields, got 3: "
                            f"{'s1 r1 0' + NBSP + '0.5'!r}")


def test_a_line_of_only_a_no_break_space_is_an_id_not_a_blank_line(kaldi):
    from speechbudget.datasets.kaldi import load_kaldi
    (kaldi / "wav.scp").write_text(f"r1 a.wav\n{NBSP}\n", encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        load_kaldi(kaldi, need_text=False)
    assert str(e.value) == (f"{kaldi / 'wav.scp'}: recording {NBSP!r} has no path (expected "
                            "'<id> <path>')")
