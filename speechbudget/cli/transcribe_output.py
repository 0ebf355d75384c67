"""`speechbudget transcribe --output-dir`: one output file per input, named by its stem, and
the folder checked before any model loads."""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path


def output_key(stem: str) -> str:
    """What names one output file on every common file system: the stem in Unicode NFC with each
    character upper-cased where that gives one character (macOS and Windows compare names
    case-insensitively by such one-to-one mappings, macOS also regardless of NFC/NFD), so `A.wav`
    and `a.wav`, or a composed and a decomposed `é.wav`, share one key; `straße` and `STRASSE`
    (a one-to-two mapping) do not."""
    return "".join(u if len(u := c.upper()) == 1 else c
                   for c in unicodedata.normalize("NFC", stem))


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # one file named twice on a case-insensitive file system
    except OSError:
        return False


def prepare_output_dir(output_dir: Path, files: list[Path], formats: tuple[str, ...]) -> None:
    """Create --output-dir, or fail (OutputError, exit 6) before any model loads: a folder that
    cannot be created or written, or two different inputs whose stems are one output name
    (`a/x.wav` and `b/x.flac` would both write `x.<fmt>`, the second silently replacing the
    first; so would `A.wav` and `a.wav` on a case-insensitive file system: output_key)."""
    from speechbudget.errors import OutputError, make_output_dir
    taken: dict[str, Path] = {}
    for f in files:
        first = taken.setdefault(output_key(f.stem), f)
        if first != f and not _same_file(first, f):
            ext = formats[0] if len(formats) == 1 else "*"
            if first.stem == f.stem:
                where = f"both be written to {output_dir / f'{f.stem}.{ext}'}"
            else:
                where = (f"be written to {output_dir / f'{first.stem}.{ext}'} and "
                         f"{output_dir / f'{f.stem}.{ext}'}, one file where names ignore case "
                         "or Unicode normalisation (macOS, Windows)")
            raise OutputError(f"--output-dir {output_dir}: {first} and {f} would {where}; "
                              "transcribe them into separate folders")
    make_output_dir(output_dir, "--output-dir")
