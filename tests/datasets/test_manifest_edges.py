"""Manifest (CSV / TSV / JSONL) and Kaldi edge cases a user's real files have: blank rows,
malformed quoting, long fields, odd values. Each either reads as meant or is one DatasetError
naming the file and line."""
from __future__ import annotations

import pytest

from speechbudget.datasets import DatasetError, open_dataset


def _write(path, text):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_csv_rows_with_only_blank_fields_are_skipped_like_blank_lines(tmp_path):
    # a trailing "   " or "," line (an editor's or spreadsheet's leftover) became an item with
    # 'no audio path', failing the run; a blank JSONL line or a blank CSV line is skipped
    m = _write(tmp_path / "m.csv", "audio,text\na.wav,hello\n , \n,\n   \nb.wav,world\n")
    ds = open_dataset(m)
    assert [(r.id, r.text, r.problem) for r in ds.records] == [
        ("a.wav", "hello", None), ("b.wav", "world", None)]
    # a row with some field set but no audio is still reported
    m = _write(tmp_path / "n.csv", "audio,text\na.wav,hello\n,orphan\n")
    assert open_dataset(m).records[1].problem == f"{m}:3: no audio path in column 'audio'"


def test_csv_messages_name_the_row_s_own_line(tmp_path):
    # rows were numbered by count from line 2, so a blank line or a quoted multi-line transcript
    # above shifted every later message (and the 'lineN' id) to the wrong line
    m = _write(tmp_path / "m.csv", 'audio,text\na.wav,hello\n\n\nb.wav,"two\nlines"\n,orphan\n'
                                   'c.wav,\n')
    ds = open_dataset(m)
    assert [r.id for r in ds.records] == ["a.wav", "b.wav", "line7", "c.wav"]
    assert ds.records[2].problem == f"{m}:7: no audio path in column 'audio'"
    # a blank transcript cell is an empty transcript (no speech), scored: no problem
    assert (ds.records[3].text, ds.records[3].problem) == ("", None)
    assert ds.records[1].text == "two\nlines"
    # a short row gets None for its missing fields; a long one is a problem (see below)
    m = _write(tmp_path / "n.csv", "audio,text,speaker\na.wav,hi\nb.wav,yo,s1,\n")
    first, second = open_dataset(m).records
    assert (first.text, first.speaker) == ("hi", None)
    assert (second.speaker, second.problem) == ("s1", None)  # a blank trailing field is fine


def test_a_csv_row_with_more_fields_than_the_header_is_a_problem(tmp_path):
    # an unquoted comma in a transcript ('a.wav,HELLO, WORLD') cut it to 'HELLO' and kept
    # ' WORLD' as an unnamed extra field: a word lost from the reference, silently
    m = _write(tmp_path / "m.csv", "audio,text\na.wav,HELLO, WORLD\nb.wav,FINE\n")
    bad, good = open_dataset(m).records
    assert bad.problem == (f"{m}:2: 3 fields, the header has 2 (extra: ' WORLD'); quote a field "
                           "that holds the delimiter")
    assert (good.text, good.problem) == ("FINE", None)
    # SER reads the same table and refuses it, naming the line
    from speechbudget.tasks.ser.data import load_table
    m = _write(tmp_path / "s.csv", "audio,label,speaker\na.wav,ANG,s1,x\n")
    with pytest.raises(DatasetError, match=r"s.csv:2: 4 fields, the header has 3"):
        load_table(m)


def test_jsonl_transcripts_that_are_not_strings(tmp_path):
    # a number ("text": 7, a transcript of digits) and a list were both 'empty or missing
    # transcript': the number is its digits, anything else names its JSON type
    m = _write(tmp_path / "m.jsonl", '{"audio": "a.wav", "text": 7}\n'
                                     '{"audio": "b.wav", "text": ["x"]}\n'
                                     '{"audio": "c.wav", "text": NaN}\n'
                                     '{"audio": "d.wav", "text": true}\n')
    a, b, c, d = open_dataset(m).records
    assert (a.text, a.problem) == ("7", None)
    assert b.problem == f"{m}:2: transcript 'text' is a JSON list, expected a string: [\"x\"]"
    assert c.problem == f"{m}:3: transcript 'text' is a JSON float, expected a string: NaN"
    assert d.problem == f"{m}:4: transcript 'text' is a JSON bool, expected a string: true"
    # a task that needs no transcript (SER) is not stopped by one it does not read
    m = _write(tmp_path / "s.jsonl", '{"audio": "a.wav", "text": ["x"], "label": "ANG", '
                                     '"speaker": "s"}\n')
    (r,) = open_dataset(m, need=("label", "speaker")).records
    assert (r.problem, r.text) == (None, None)


def test_a_duplicate_manifest_id_names_both_lines(tmp_path):
    # 'duplicate item id' came from the ASR dataset later, naming neither line
    m = _write(tmp_path / "m.jsonl", '{"id": "u", "audio": "a.wav", "text": "x"}\n\n'
                                     '{"id": "u", "audio": "b.wav", "text": "y"}\n')
    with pytest.raises(DatasetError, match=r"m.jsonl:3: item id 'u' is also on line 1"):
        open_dataset(m)
    m = _write(tmp_path / "m.csv", "audio,text\na.wav,x\na.wav,y\n")  # id = the audio path
    with pytest.raises(DatasetError, match=r"m.csv:3: item id 'a.wav' is also on line 2"):
        open_dataset(m)


def test_csv_quoting_errors_and_long_fields(tmp_path):
    # an unterminated quote swallowed the rest of the file into one transcript (b.wav's row and
    # every later one vanished); now the row is named
    m = _write(tmp_path / "m.csv", 'audio,text\na.wav,hi\nb.wav,"hi\nc.wav,yo\nd.wav,x\n')
    with pytest.raises(DatasetError, match=r"m.csv:3: not valid CSV \(unexpected end of data; "
                                           r"a quoted field that starts in this row is never "
                                           r"closed\)"):
        open_dataset(m)
    m = _write(tmp_path / "q.csv", 'audio,text\na.wav,ok\nb.wav,"hi" there\n')
    with pytest.raises(DatasetError, match=r"q.csv:3: not valid CSV"):
        open_dataset(m)
    # quotes inside a field and doubled quotes are CSV and read as such
    m = _write(tmp_path / "ok.csv", 'audio,text\na.wav,he said "hi"\nb.wav,"x ""y"", z"\n')
    assert [r.text for r in open_dataset(m).records] == ['he said "hi"', 'x "y", z']
    # a field over the csv module's 128 KiB limit (a long recording's transcript) was an
    # internal error (_csv.Error: field larger than field limit), exit 70
    import csv
    long = " ".join(["WORD"] * 60000)
    m = _write(tmp_path / "long.csv", f"audio,text\na.wav,{long}\n")
    before = csv.field_size_limit()
    assert open_dataset(m).records[0].text == long
    assert csv.field_size_limit() == before  # the process-wide limit is left as it was


def test_jsonl_nested_too_deeply_is_a_dataset_error(tmp_path):
    # json.loads raised RecursionError: 'asr eval --data deep.jsonl' was an internal error (70)
    m = _write(tmp_path / "deep.jsonl", '{"audio": "a.wav", "text": "hi"}\n'
               + "[" * 100000 + "]" * 100000 + "\n")
    with pytest.raises(DatasetError, match=r"deep.jsonl:2: JSON nested too deeply"):
        open_dataset(m)


def test_an_id_of_0_is_kept(tmp_path):
    # `rid or audio`: the id 0 (falsy) was replaced by the audio path, so item 0 of a manifest
    # numbered 0, 1, 2 was stored as 'a.wav' and the others as '1', '2'
    m = _write(tmp_path / "m.jsonl", '{"id": 0, "audio": "a.wav", "text": "hi"}\n'
                                     '{"id": 1, "audio": "b.wav", "text": "yo"}\n'
                                     '{"id": "", "audio": "c.wav", "text": "x"}\n')
    assert [r.id for r in open_dataset(m).records] == ["0", "1", "c.wav"]
    m = _write(tmp_path / "m.csv", "id,audio,text\n0,a.wav,hi\n,b.wav,yo\n")
    assert [r.id for r in open_dataset(m).records] == ["0", "b.wav"]


@pytest.mark.parametrize("value", ['"nan"', "NaN", "-3", "1e999", "true", '"-0.5"', '"inf"'])
def test_a_duration_must_be_finite_seconds(tmp_path, value):
    # NaN, infinite, negative and boolean durations were accepted; the sweep planner averages
    # them into the dataset's mean audio length (a NaN or negative plan input)
    m = _write(tmp_path / "m.jsonl", '{"audio": "a.wav", "text": "hi", "duration_s": 2.5}\n'
                                     f'{{"audio": "b.wav", "text": "hi", "duration_s": {value}}}\n')
    with pytest.raises(DatasetError, match=r"m.jsonl:2: duration_s=.* is not a number of seconds"):
        open_dataset(m)


def test_valid_durations_are_read(tmp_path):
    m = _write(tmp_path / "m.csv", "audio,text,duration\na.wav,hi,2.5\nb.wav,yo,\nc.wav,x,0\n")
    assert [r.duration_s for r in open_dataset(m).records] == [2.5, None, 0.0]


@pytest.mark.parametrize("start,end", [("nan", "1"), ("0", "inf"), ("0", "nan"), ("-inf", "1")])
def test_kaldi_segment_times_must_be_finite(tmp_path, start, end):
    # NaN and infinite times passed the start/end checks (comparisons with NaN are false) and
    # reading the segment raised ValueError/OverflowError ('cannot convert float NaN to integer')
    k = tmp_path / "k"
    k.mkdir()
    _write(k / "wav.scp", "r1 a.wav\n")
    _write(k / "segments", f"s0 r1 0 0.5\ns1 r1 {start} {end}\n")
    _write(k / "text", "s0 A\ns1 B\n")
    with pytest.raises(DatasetError, match=rf"segments: segment 's1': start/end '{start}' "
                                           rf"'{end}' must be finite seconds"):
        open_dataset(k)


def test_kaldi_wav_scp_line_without_a_path(tmp_path):
    # 'u1' alone was read as a recording at the data dir itself (the path ''), which failed
    # later as 'is a directory, not an audio file'
    k = tmp_path / "k"
    k.mkdir()
    _write(k / "wav.scp", "u0 a.wav\nu1\n")
    _write(k / "text", "u0 A\nu1 B\n")
    with pytest.raises(DatasetError, match=r"wav.scp: recording 'u1' has no path"):
        open_dataset(k)


def test_kaldi_archive_offsets_are_refused_by_name(tmp_path):
    # 'u1 data/wav.ark:44' (a Kaldi archive offset) was taken for a file name and each utterance
    # failed later with 'wav.ark:44: no such audio file', though wav.ark is there
    k = tmp_path / "k"
    k.mkdir()
    _write(k / "wav.ark", b"u1 RIFF....")
    _write(k / "wav.scp", f"u1 {k}/wav.ark:3\nu2 wav.ark:123[0:1]\n")
    _write(k / "text", "u1 A\nu2 B\n")
    with pytest.raises(DatasetError, match=r"wav.scp: u1: archive offsets are not supported "
                                           r"\('.*wav.ark:3'\)"):
        open_dataset(k)
    _write(k / "wav.scp", "u2 wav.ark:123[0:1]\n")
    with pytest.raises(DatasetError, match=r"wav.scp: u2: archive offsets"):
        open_dataset(k)
    # a file whose name really ends in ':<digits>' is a file; a missing one stays an item error
    _write(k / "take:2.wav", b"")
    _write(k / "wav.scp", "u1 take:2.wav\nu2 gone.ark:5\n")
    assert [r.path.name for r in open_dataset(k).records] == ["take:2.wav", "gone.ark:5"]


def test_a_used_column_named_twice_in_the_header_is_refused(tmp_path):
    # 'audio,text,text' silently took the last 'text' column as the transcript
    m = _write(tmp_path / "m.csv", "audio,text,text\na.wav,hello,world\n")
    with pytest.raises(DatasetError, match=r"m.csv: the header names the column 'text' \(the "
                                           r"text\) 2 times"):
        open_dataset(m)
    # unused repeated names (empty trailing columns of a spreadsheet export) are fine
    m = _write(tmp_path / "n.csv", "audio,text,,\na.wav,hello,,\n")
    assert open_dataset(m).records[0].text == "hello"


def test_kaldi_segment_end_only_minus_one_means_to_the_end(tmp_path):
    # any negative end was read as 'to the end of the recording'; Kaldi's extract-segments
    # gives that meaning to -1 alone and rejects other negative ends as invalid segments
    k = tmp_path / "k"
    k.mkdir()
    _write(k / "wav.scp", "r1 a.wav\n")
    _write(k / "text", "s1 A\n")
    _write(k / "segments", "s1 r1 0.2 -0.5\n")
    with pytest.raises(DatasetError, match=r"segment 's1': end '-0.5' is negative; only -1"):
        open_dataset(k)
    _write(k / "segments", "s1 r1 0.2 -1\n")
    (r,) = open_dataset(k).records
    assert (r.start_s, r.end_s) == (0.2, None)


def test_kaldi_segment_channel_field(tmp_path):
    # the optional 5th field (channel) was ignored: 'seg r1 0 1 1' on a two-speaker stereo
    # recording was read as the mean of both channels instead of channel 1
    import numpy as np
    import soundfile as sf

    k = tmp_path / "k"
    k.mkdir()
    t = np.arange(16000) / 16000
    sf.write(k / "stereo.wav", np.stack([np.sin(2 * np.pi * 300 * t), np.zeros_like(t)], 1) * .5,
             16000)
    sf.write(k / "mono.wav", 0.5 * np.sin(2 * np.pi * 300 * t), 16000)
    _write(k / "wav.scp", "st stereo.wav\nmo mono.wav\n")
    _write(k / "text", "s1 A\ns2 B\n")
    _write(k / "segments", "s1 mo 0 0.5 0\ns2 st 0 0.5 1\n")
    with pytest.raises(DatasetError, match=r"segment 's2' selects channel 1 of .*stereo.wav "
                                           r"\(2 channels\); selecting a channel is not "
                                           r"supported"):
        open_dataset(k)
    _write(k / "segments", "s1 mo 0 0.5 0\ns2 st 0 0.5 x\n")
    with pytest.raises(DatasetError, match=r"segment 's2': expected 4 fields and an optional "
                                           r"channel number, got 'x'"):
        open_dataset(k)
    _write(k / "segments", "s1 mo 0 0.5 0\n")  # channel 0 of a mono file is the file
    r, s2 = open_dataset(k).records  # s2: a transcript left without a segment, reported
    assert (r.start_s, r.end_s) == (0.0, 0.5)
    assert (s2.id, s2.path) == ("s2", None) and "has no audio" in s2.problem


def test_kaldi_utt2spk_line_without_a_speaker(tmp_path):
    # 'u1' alone in utt2spk was read as the speaker '' (one more speaker, unnamed)
    k = tmp_path / "k"
    k.mkdir()
    _write(k / "wav.scp", "u0 a.wav\nu1 b.wav\n")
    _write(k / "text", "u0 A\nu1\n")                     # an empty transcript stays allowed
    _write(k / "utt2spk", "u0 s0\nu1\n")
    with pytest.raises(DatasetError, match=r"utt2spk:2: expected 2 fields, got 1: 'u1'"):
        open_dataset(k)


def test_a_pretty_printed_json_manifest_is_told_the_format(tmp_path):
    p = tmp_path / "m.json"
    p.write_text('[\n  {"audio": "a.wav", "text": "x"}\n]\n')
    with pytest.raises(DatasetError, match=r"m.json:1: not valid JSON .*one JSON object per line"):
        open_dataset(p)


def test_a_kaldi_transcript_without_audio_is_reported(tmp_path):
    # a 'text' line whose utterance is in neither wav.scp nor segments was dropped silently
    k = tmp_path / "k"
    k.mkdir()
    _write(k / "wav.scp", "u1 a.wav\n")
    _write(k / "text", "u9 LATER\nu1 HELLO\nu8 FIRST\n")
    ds = open_dataset(k)
    assert [(r.id, r.text, r.problem) for r in ds.records] == [
        ("u1", "HELLO", None),
        ("u9", "LATER", f"{k / 'text'}:1: utterance 'u9' has no audio (not in {k / 'wav.scp'})"),
        ("u8", "FIRST", f"{k / 'text'}:3: utterance 'u8' has no audio (not in {k / 'wav.scp'})")]
    _write(k / "segments", "s1 u1 0 0.5\n")
    _write(k / "text", "s1 A\ns2 B\n")
    assert open_dataset(k).records[1].problem == (f"{k / 'text'}:2: utterance 's2' has no audio "
                                                  f"(not in {k / 'segments'})")


def test_a_semicolon_separated_csv_is_read(tmp_path):
    # a spreadsheet's CSV where the comma is the decimal mark: the header was one column named
    # 'audio;text' ("no audio column ... columns are 'audio;text' (choose one with
    # --audio-column ...)", exit 3)
    m = _write(tmp_path / "m.csv", 'audio;text;duration\na.wav;"one; two";1.5\nb.wav;three, four;2\n')
    ds = open_dataset(m)
    assert [(r.id, r.text, r.duration_s) for r in ds.records] == [
        ("a.wav", "one; two", 1.5), ("b.wav", "three, four", 2.0)]
    # a comma in the header keeps the comma: semicolons are then text
    m = _write(tmp_path / "n.csv", "audio,text\na.wav,one; two\n")
    assert [r.text for r in open_dataset(m).records] == ["one; two"]


def test_jsonl_audio_that_is_no_path_string(tmp_path):
    # {"path": ...} (a Hugging Face audio cell, as Dataset.to_json writes it) and a number were
    # both "no audio path in column 'audio'", under the item id "{'path': 'a.wav'}"
    m = _write(tmp_path / "m.jsonl", '{"audio": {"bytes": null, "path": "a.wav"}, "text": "x"}\n'
                                     '{"audio": 5, "text": "y"}\n'
                                     '{"audio": {"bytes": "UklGRg==", "path": "b.wav"}, "text": "z"}\n')
    r = open_dataset(m).records
    assert (r[0].id, r[0].path, r[0].problem) == ("a.wav", tmp_path / "a.wav", None)
    assert (r[1].id, r[1].path) == ("line2", None)
    assert r[1].problem == f"{m}:2: audio 'audio' is a JSON int, expected a file path: 5"
    assert r[2].id == "line3" and "is a JSON dict, expected a file path" in r[2].problem
