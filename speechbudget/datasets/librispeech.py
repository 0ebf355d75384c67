"""LibriSpeech's own layout: <split>/<speaker>/<chapter>/<spk>-<ch>-<utt>.flac (or .wav) and one
<spk>-<ch>.trans.txt per chapter ("ID TRANSCRIPT" lines).

The folder may be one split (`LibriSpeech/test-clean`) or hold exactly one; a folder holding
several (`LibriSpeech/` with dev-clean and test-clean) is an error naming them, so that splits
are never mixed. Nothing is dropped unsaid: a transcript line whose audio is missing is an item
whose audio cannot be read, and an audio file without a transcript line is an item with a
`problem` naming where its line was looked for (unless transcripts are not needed).
"""
from __future__ import annotations

from pathlib import Path

from speechbudget.datasets.base import DatasetError, FileDataset, Record, text_lines

AUDIO_SUFFIXES = (".flac", ".wav")


def is_librispeech(folder: Path) -> bool:
    return next(folder.rglob("*.trans.txt"), None) is not None


def _split_of(trans: Path, folder: Path) -> Path:
    """The split folder a chapter's transcript lies in: <split>/<speaker>/<chapter>/x.trans.txt
    (the opened folder itself when it is a speaker or chapter folder)."""
    split = trans.parent.parent.parent
    return split if split == folder or folder in split.parents else folder


def load_librispeech(folder: str | Path, need_text: bool = True) -> FileDataset:
    folder = Path(folder)
    transcripts = sorted(folder.rglob("*.trans.txt"))
    splits = sorted({_split_of(t, folder) for t in transcripts})
    if len(splits) > 1:
        names = ", ".join(str(s.relative_to(folder)) for s in splits)
        raise DatasetError(f"{folder}: holds {len(splits)} LibriSpeech splits ({names}); open one "
                           f"of them (e.g. {splits[0]}) so that splits are not mixed")
    records = []
    seen: dict[str, str] = {}
    for trans in transcripts:
        for n, line in enumerate(text_lines(trans), 1):
            if not line.strip():
                continue
            utt, text = (line.split(maxsplit=1) + [""])[:2]
            if utt in seen:
                raise DatasetError(f"utterance {utt!r} is also on {seen[utt]}", trans, n)
            seen[utt] = f"{trans}:{n}"
            audio = trans.parent / f"{utt}.flac"
            if not audio.exists():
                for ext in (".wav", ".FLAC", ".WAV"):
                    if (trans.parent / f"{utt}{ext}").exists():
                        audio = trans.parent / f"{utt}{ext}"
                        break
            problem = None if text.strip() or not need_text \
                else f"{trans}:{n}: empty transcript for {utt}"
            records.append(Record(utt, path=audio, text=text, speaker=utt.split("-")[0],
                                  problem=problem))
    if not records:
        raise DatasetError(f"{folder}: no LibriSpeech transcripts (*.trans.txt) found")
    for audio in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
                        and p.is_file()):
        if audio.stem in seen:
            continue
        expected = audio.parent / f"{'-'.join(audio.stem.split('-')[:2])}.trans.txt"
        problem = None if not need_text else \
            f"{audio}: no transcript line for {audio.stem} (looked in {expected})"
        records.append(Record(audio.stem, path=audio, text="", speaker=audio.stem.split("-")[0],
                              problem=problem))
        seen[audio.stem] = str(audio)
    return FileDataset(records, str(folder))
