"""LibriSpeech's own layout: <split>/<speaker>/<chapter>/<spk>-<ch>-<utt>.flac (or .wav) and one
<spk>-<ch>.trans.txt per chapter ("ID TRANSCRIPT" lines)."""
from __future__ import annotations

from pathlib import Path

from speechbudget.datasets.base import DatasetError, FileDataset, Record, text_lines


def is_librispeech(folder: Path) -> bool:
    return next(folder.rglob("*.trans.txt"), None) is not None


def load_librispeech(folder: str | Path) -> FileDataset:
    folder = Path(folder)
    records = []
    for trans in sorted(folder.rglob("*.trans.txt")):
        for n, line in enumerate(text_lines(trans), 1):
            if not line.strip():
                continue
            utt, _, text = line.strip().partition(" ")
            audio = trans.parent / f"{utt}.flac"
            if not audio.exists():
                for ext in (".wav", ".FLAC", ".WAV"):
                    if (trans.parent / f"{utt}{ext}").exists():
                        audio = trans.parent / f"{utt}{ext}"
                        break
            problem = None if text.strip() else f"{trans}:{n}: empty transcript for {utt}"
            records.append(Record(utt, path=audio, text=text, speaker=utt.split("-")[0],
                                  problem=problem))
    if not records:
        raise DatasetError(f"{folder}: no LibriSpeech transcripts (*.trans.txt) found")
    return FileDataset(records, str(folder))
