"""SER data: CREMA-D and RAVDESS folders, JSONL manifests, speaker-disjoint folds, crops (xT).

Labels are the six shared emotions `LABELS`. A clip whose label is outside them is dropped with a
recorded reason (RAVDESS calm/surprised) or rejected (an unknown label in a manifest).
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from speechbudget.audio import AudioError, load_audio
from speechbudget.errors import DatasetError  # one DatasetError for ASR and SER
from speechbudget.geometry import SAMPLE_RATE

LABELS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
MIN_CLIP_S = 0.1  # shorter clips are recorded as skipped, not padded into nonsense

RAVDESS_EMOTIONS = {"01": "NEU", "02": None, "03": "HAP", "04": "SAD", "05": "ANG", "06": "FEA",
                    "07": "DIS", "08": None}  # 02 calm, 08 surprised: dropped
RAVDESS_NAMES = {"02": "calm", "08": "surprised"}
# ASCII only ([0-9], re.ASCII): \d also took other scripts' digits ('\u0660\u0663' as an emotion
# code, '\u0661\u0660\u0660\u0661' as an actor), and re.I's [A-Z] the long s and the Kelvin sign
# (U+017F, U+212A) as letters; such a name is a file of no RAVDESS / CREMA-D name: left out and
# listed in `skipped`, as any other
_RAVDESS = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{2})-([0-9]{2})-([0-9]{2})-([0-9]{2})-"
                      r"([0-9]{2})\.(wav|flac)$", re.I | re.ASCII)
_CREMAD = re.compile(r"([0-9]{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.(wav|flac)$",
                     re.I | re.ASCII)


@dataclass(frozen=True)
class Clip:
    id: str
    path: Path
    label: str
    speaker: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class SerDataset:
    """Clips with labels and speakers; `skipped` lists (file, reason) of clips left out."""

    items: list[Clip]
    source: str
    labels: tuple[str, ...] = LABELS
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = Counter(c.id for c in self.items)
        dup = [i for i, n in ids.items() if n > 1]
        if dup:
            raise DatasetError(f"{self.source}: clip id {dup[0]!r} appears {ids[dup[0]]} times")
        self._by_id = {c.id: c for c in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> Clip:
        try:
            return self._by_id[item_id]
        except KeyError:
            raise DatasetError(f"{self.source}: no clip with id {item_id!r}") from None

    def subset(self, ids: Iterable[str]) -> list[Clip]:
        return [self.get(i) for i in ids]

    @property
    def speakers(self) -> list[str]:
        return sorted({c.speaker for c in self.items})

    def class_counts(self, clips: Sequence[Clip] | None = None) -> dict[str, int]:
        counts = Counter(c.label for c in (self.items if clips is None else clips))
        return {lab: counts.get(lab, 0) for lab in self.labels}


def _check_label(label: Any, where: str) -> str:
    """The label as one of LABELS: any case, and spaces around it ignored (a CSV written
    'a.wav, ang, spk1' holds ' ang'), as the audio path's are."""
    if not isinstance(label, str) or label.strip().upper() not in LABELS:
        raise DatasetError(f"{where}: unknown label {label!r}; expected one of {', '.join(LABELS)} "
                           "(write another dataset's labels as these codes, e.g. angry -> ANG, "
                           "and leave its other emotions out; docs/ser.md)")
    return label.strip().upper()


def speaker_id(speaker: Any) -> str:
    """The speaker as folds compare it: spaces around it ignored, so that 'A0' and 'A0 ' (a
    padded CSV cell) are one speaker, not two whose clips could land in different splits."""
    return str(speaker).strip()


def load_manifest(path: str | Path, audio_root: str | Path | None = None) -> SerDataset:
    """A JSONL manifest: one object per line with `audio` (relative to `audio_root`, default the
    manifest's folder, or absolute), `label` (one of LABELS) and `speaker`; `id` optional
    (default: the audio path)."""
    from speechbudget.datasets.base import text_lines  # the one reader: UTF-8, -16, -32 (BOM)
    from speechbudget.datasets.manifest import audio_file
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found")
    root = path.parent if audio_root is None else Path(audio_root)
    items: list[Clip] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(text_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"expected a JSON object, got {type(row).__name__}", path, n)
        missing = [k for k in ("audio", "label", "speaker") if k not in row]
        if missing:
            raise DatasetError(f"{where}: missing field(s) {', '.join(missing)}")
        for k in ("audio", "label"):
            if not isinstance(row[k], str) or not row[k]:
                raise DatasetError(f"{row[k]!r}: expected a non-empty string", path, n, k)
        spk = row["speaker"]  # null was the speaker "None", [] the speaker "[]"
        if spk is None or isinstance(spk, (bool, list, dict)) or not str(spk).strip():
            raise DatasetError(f"{json.dumps(spk)}: expected a non-empty string or a number "
                               "(folds are speaker-disjoint)", path, n, "speaker")
        # relative to the manifest; a Windows-made one's clips\a.wav too, as CSV manifests do
        audio = audio_file(row["audio"], root)
        extra = {k: v for k, v in row.items() if k not in ("id", "audio", "label", "speaker")}
        cid = str(row.get("id", row["audio"]))
        if cid in first_line:  # named here with both lines, not later with neither
            raise DatasetError(f"clip id {cid!r} is also on line {first_line[cid]}", path, n, "id")
        first_line[cid] = n
        items.append(Clip(cid, audio, _check_label(row["label"], where), speaker_id(spk),
                          extra))
    if not items:
        raise DatasetError(f"{path}: no clips")
    return SerDataset(items, str(path))


def load_ravdess(root: str | Path) -> SerDataset:
    """RAVDESS: Actor_NN/03-01-EE-II-SS-RR-AA.wav|flac (EE emotion, II intensity, SS statement,
    RR repetition, AA actor). Calm (02) and surprised (08) are dropped and counted in `skipped`,
    as are song clips (vocal channel 02: 03-02-..., RAVDESS's other half, if extracted into the
    same Actor_NN folders): this is speech emotion."""
    root = Path(root)
    items, skipped = [], []
    for f in sorted(root.glob("Actor_*/*")):
        m = _RAVDESS.match(f.name)
        if not m:
            if f.suffix.lower() in (".wav", ".flac"):
                skipped.append((str(f), "name is not RAVDESS modality-channel-emotion-...-actor"))
            continue
        if m.group(2) != "01":
            skipped.append((str(f), f"vocal channel {m.group(2)} is not speech (01)"
                            + (": a song clip" if m.group(2) == "02" else "")))
            continue
        emo = m.group(3)
        if emo not in RAVDESS_EMOTIONS:
            raise DatasetError(f"{f}: unknown RAVDESS emotion code {emo!r}")
        label = RAVDESS_EMOTIONS[emo]
        if label is None:
            skipped.append((str(f), f"emotion {RAVDESS_NAMES[emo]} is not one of the six labels"))
            continue
        actor = f"Actor_{m.group(7)}"
        if f.parent.name != actor:
            raise DatasetError(f"{f}: file names actor {m.group(7)} but lies in {f.parent.name}")
        items.append(Clip(f"ravdess_{f.stem}", f, label, actor,
                          {"intensity": m.group(4), "statement": m.group(5)}))
    if not items:
        raise DatasetError(f"{root}: no RAVDESS clips (Actor_NN/03-01-EE-II-SS-RR-AA.wav)")
    return SerDataset(items, str(root), skipped=skipped)


def load_cremad(root: str | Path) -> SerDataset:
    """CREMA-D: AudioWAV/1001_DFA_ANG_XX.wav (actor, sentence, emotion, level)."""
    root = Path(root)
    folder = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    items, skipped = [], []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() not in (".wav", ".flac"):
            continue
        m = _CREMAD.match(f.name)
        if not m:
            skipped.append((str(f), "name is not CREMA-D actor_sentence_emotion_level"))
            continue
        if m.group(3).upper() not in LABELS:  # as RAVDESS's calm and surprised: left out, said
            # (it stopped the whole load: a CREMA-D-named set with SUR clips could not be read)
            skipped.append((str(f), f"emotion {m.group(3)} is not one of the six labels"))
            continue
        label = m.group(3).upper()
        items.append(Clip(f"cremad_{f.stem}", f, label, m.group(1),
                          {"sentence": m.group(2), "level": m.group(4)}))
    if not items:
        raise DatasetError(f"{root}: no CREMA-D clips (AudioWAV/1001_DFA_ANG_XX.wav)")
    return SerDataset(items, str(root), skipped=skipped)


def load_table(path: str | Path, columns: Any = None,
               audio_root: str | Path | None = None) -> SerDataset:
    """A JSONL/CSV/TSV manifest read by `speechbudget.datasets` with a column mapping
    (`Columns(audio=, label=, speaker=, id=)`), relative audio paths from `audio_root` (default:
    the manifest's folder); every clip needs a label and a speaker."""
    from speechbudget.datasets import Columns
    from speechbudget.datasets import DatasetError as SourceError
    from speechbudget.datasets.manifest import load_table as read_table
    try:
        ds = read_table(path, columns or Columns(), audio_root, need=("label", "speaker"))
    except SourceError as e:
        raise DatasetError(str(e)) from None
    items = []
    for r in ds.records:
        where = f"{ds.source}: {r.id}"
        if r.problem or r.path is None:
            raise DatasetError(r.problem or f"{where}: no audio")
        if r.speaker is None or not r.speaker.strip():
            raise DatasetError(f"{where}: no speaker (folds are speaker-disjoint)")
        items.append(Clip(r.id, r.path, _check_label(r.label, where), speaker_id(r.speaker),
                          r.extra))
    return SerDataset(items, ds.source)


def load_dataset(source: str | Path, columns: Any = None,
                 audio_root: str | Path | None = None) -> SerDataset:
    """A manifest (.jsonl/.csv/.tsv file, or a folder with manifest.jsonl or metadata.csv/.tsv;
    `columns` maps column names; relative audio paths start at `audio_root`, default the
    manifest's folder), a CREMA-D or a RAVDESS folder (no `audio_root`: the files are the
    clips)."""
    p = Path(source)
    if p.exists() and not (p.is_file() or p.is_dir()):
        raise DatasetError("not a regular file (a FIFO, socket or device)", p)
    if audio_root is not None and not Path(audio_root).is_dir():
        raise DatasetError(f"audio root {audio_root}: no such folder")
    if p.is_file():
        if p.suffix.lower() == ".jsonl" and columns is None:
            return load_manifest(p, audio_root)
        return load_table(p, columns, audio_root)
    if not p.is_dir():
        raise DatasetError(f"{p}: no such file or folder")
    if (p / "manifest.jsonl").is_file():
        return load_dataset(p / "manifest.jsonl", columns, audio_root)
    for name in ("metadata.csv", "metadata.tsv", "manifest.csv", "manifest.tsv"):
        if (p / name).is_file():
            return load_table(p / name, columns, audio_root)
    if audio_root is not None:  # as ASR refuses one for a LibriSpeech folder
        raise DatasetError(f"{p}: a folder without a manifest (a CREMA-D or RAVDESS folder's "
                           f"files are its clips); an audio root (--audio-root {audio_root}) is "
                           f"for a manifest whose audio paths are relative to another folder")
    # any case and either extension, as load_cremad reads them (a folder of 1001_DFA_ANG_XX.WAV
    # or .flac files was "not a SER dataset")
    if (p / "AudioWAV").is_dir() or any(_CREMAD.match(f.name) for f in p.iterdir()):
        return load_cremad(p)
    if any(p.glob("Actor_*")):
        return load_ravdess(p)
    raise DatasetError(f"{p}: not a SER dataset (expected manifest.jsonl, a CREMA-D AudioWAV/ "
                       f"folder or RAVDESS Actor_NN/ folders)")


# ---- speaker-disjoint folds ----------------------------------------------------------------

def speaker_folds(dataset: SerDataset, k: int, seed: int = 0) -> list[list[str]]:
    """k speaker-disjoint folds of clip ids. Speakers are shuffled with `seed` and each goes to the
    fold with the fewest clips so far (ties: lowest index), so folds are balanced in clips."""
    speakers = dataset.speakers
    if len(speakers) < 2:
        raise DatasetError(f"{dataset.source}: {len(speakers)} speaker(s); speaker-disjoint folds "
                           "need at least 2")
    if not 2 <= k <= len(speakers):
        raise DatasetError(f"folds={k}: need 2..{len(speakers)} (the number of speakers in "
                           f"{dataset.source})")
    random.Random(seed).shuffle(speakers)
    by_spk: dict[str, list[str]] = {}
    for c in dataset.items:
        by_spk.setdefault(c.speaker, []).append(c.id)
    folds: list[list[str]] = [[] for _ in range(k)]
    spk_of: list[list[str]] = [[] for _ in range(k)]
    for s in sorted(speakers, key=lambda s: -len(by_spk[s])):  # stable: shuffled order breaks ties
        i = min(range(k), key=lambda j: (len(folds[j]), j))
        folds[i].extend(by_spk[s])
        spk_of[i].append(s)
    return folds


def check_disjoint(dataset: SerDataset, **splits: Sequence[str]) -> None:
    """Raise if any speaker appears in two of the named splits of clip ids."""
    seen: dict[str, str] = {}
    for name, ids in splits.items():
        for spk in {dataset.get(i).speaker for i in ids}:
            if spk in seen and seen[spk] != name:
                raise DatasetError(f"speaker {spk!r} is in both the {seen[spk]} and the {name} "
                                   f"split: splits must be speaker-disjoint")
            seen[spk] = name


# ---- xT: crop or pad to the duration ------------------------------------------------------

def crop_or_pad(audio: np.ndarray, duration_s: float, mode: str = "center",
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """Cut or zero-pad `audio` to duration_s seconds: "center" crop (evaluation) or "random" crop
    (training). Returns (samples, n_valid): the first n_valid samples are audio, the rest padding."""
    n = int(round(duration_s * SAMPLE_RATE))
    if len(audio) >= n:
        if mode == "center":
            start = (len(audio) - n) // 2
        elif mode == "random":
            if rng is None:
                raise ValueError("a random crop needs rng")
            start = int(rng.integers(0, len(audio) - n + 1))
        else:
            raise ValueError(f"crop mode {mode!r}: expected 'center' or 'random'")
        return np.ascontiguousarray(audio[start:start + n], dtype=np.float32), n
    out = np.zeros(n, dtype=np.float32)
    out[: len(audio)] = audio
    return out, len(audio)


def read_clip(clip: Clip) -> np.ndarray:
    """The clip's audio; raises AudioError naming the file if unreadable, empty or too short
    (an empty recording, which ASR reads as an empty transcript, has no emotion to classify)."""
    return check_clip_audio(load_audio(clip.path), clip.path)


def check_clip_audio(audio: np.ndarray, where: object) -> np.ndarray:
    """`audio` (16 kHz samples) if an emotion can be classified from it; else AudioError naming
    `where`: empty, or shorter than MIN_CLIP_S."""
    if not len(audio):
        raise AudioError(f"{where}: the recording is empty (0 samples at 16 kHz); an emotion "
                         "cannot be classified without audio")
    if len(audio) < MIN_CLIP_S * SAMPLE_RATE:
        raise AudioError(f"{where}: {len(audio) / SAMPLE_RATE:.3f} s is too short "
                         f"(need at least {MIN_CLIP_S} s)")
    return audio
