"""`asr eval` on real tiny.en: an utterance that fails makes it exit 1 (with the results written
whole to -o first), unless --allow-failures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
LIBRI = REPO / "data" / "librispeech_sample"


def test_failed_items_exit_1_unless_allowed(tmp_path, cli):
    rows = [json.loads(x) for x in (LIBRI / "manifest.jsonl").read_text().splitlines() if x]
    short = min(rows, key=lambda r: r["duration_s"])
    short["audio"] = str((LIBRI / short["audio"]).resolve())
    bad = {"id": "broken", "audio": str(tmp_path / "missing.flac"), "text": "HELLO"}
    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps(short) + "\n" + json.dumps(bad) + "\n")
    out = tmp_path / "r.json"
    cli("asr", "eval", "--data", m, "--device", "cpu", "--window", "10", "-o", out,
        code=1, has=("1 of 2 utterances failed", "missing.flac", "--allow-failures"))
    got = json.loads(out.read_text())  # written whole before the exit
    assert {i["item_id"]: i["ok"] for i in got["items"]} == {short["id"]: True, "broken": False}
    cli("asr", "eval", "--data", m, "--device", "cpu", "--window", "10", "--allow-failures",
        code=0)
