"""A model folder's tokenizer: required (a folder without one decodes every transcript to ''),
checked against the weights' vocabulary (and a CTranslate2 vocabulary file's length), loaded."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from speechbudget.models.ct2_reader import ModelFileError
from speechbudget.models.file_checks import read_json_object
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.registry import whisper_tokens
from speechbudget.models.transformers_quiet import quiet_transformers


# what AutoTokenizer builds a Whisper tokenizer from: either set of files, complete
TOKENIZER_FILE_SETS = (("tokenizer.json",), ("vocab.json", "merges.txt"))


def require_tokenizer(folder: Path, files: dict[str, Path] | None = None) -> None:
    """ModelLoadError unless the local model `folder` (or `files`, name -> path, for a split
    package) holds a tokenizer: without one transformers builds an empty WhisperTokenizer that
    decodes every transcript to ''. CTranslate2's vocabulary.txt lists the tokens but cannot
    encode text (CTranslate2 itself will not load a folder without a vocabulary)."""
    files = files or {}

    def have(name: str) -> bool:
        return files.get(name, folder / name).is_file()

    if any(all(have(f) for f in group) for group in TOKENIZER_FILE_SETS):
        return
    if have("vocab.json"):  # the BPE table without its merges: transformers' ValueError (exit 70)
        raise ModelLoadError(f"{folder}: vocab.json without merges.txt, an incomplete tokenizer: "
                             "copy the original model's merges.txt (or its tokenizer.json) into "
                             "this folder")
    has_vocab = [f for f in ("vocabulary.txt", "vocabulary.json") if (folder / f).is_file()]
    raise ModelLoadError(
        f"{folder}: no tokenizer (tokenizer.json, or vocab.json and merges.txt)"
        + (f"; {has_vocab[0]} lists the tokens but cannot encode text" if has_vocab else "")
        + ": copy the original model's tokenizer.json into this folder (faster-whisper needs it "
        "too), or save it there with WhisperProcessor.save_pretrained")


def read_tokenizer_json(path: Path, shown: Path | None = None) -> Any:
    """The tokenizers.Tokenizer in a tokenizer.json; ModelFileError naming it (as `shown`, the
    file the user gave where `path` is a converted copy's) when the tokenizers library cannot
    read it."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - the tokenizers library's own parse errors
        raise ModelFileError(f"{shown or path}: not a readable tokenizer "
                             f"({' '.join(str(e).split())})") from None


def tokenizer_file_vocab(folder: Path) -> dict[str, int]:
    """Token -> id as the folder's tokenizer files list them (tokenizer.json, else vocab.json
    with added_tokens.json); tokens transformers adds on loading are not in it."""
    if (folder / "tokenizer.json").is_file():
        return read_tokenizer_json(folder / "tokenizer.json").get_vocab()
    vocab: dict[str, int] = {}
    for name in ("vocab.json", "added_tokens.json"):
        if (folder / name).is_file():
            vocab.update(read_json_object(folder / name, "tokenizer vocabulary"))
    return vocab


def check_tokenizer_vocabulary(folder: Path, vocab_size: int, shown: str | Path) -> None:
    """ModelLoadError when the tokenizer files in `folder` put Whisper's special tokens at other
    ids than the weights' vocabulary does (an English-only tokenizer.json with multilingual
    weights, or the reverse: every transcript would be decoded with the wrong BPE table).
    Tokens the files do not list are not checked. `shown`: the folder to name."""
    tok = whisper_tokens(vocab_size)
    vocab = tokenizer_file_vocab(folder)
    kind = "English-only" if vocab_size == 51864 else "multilingual"
    for text, want in (("<|endoftext|>", tok.eot), ("<|startoftranscript|>", tok.sot),
                       ("<|notimestamps|>", tok.no_timestamps)):
        got = vocab.get(text)
        if got is not None and got != want:
            raise ModelLoadError(
                f"{shown}: the tokenizer does not match the weights: {text} is token {got} in "
                f"the tokenizer, {want} in the {kind} vocabulary of the weights "
                f"({vocab_size} tokens); use the tokenizer.json of the same model")


def ct2_vocabulary_size(folder: Path, files: dict[str, Path] | None = None) -> int | None:
    """How many tokens a CTranslate2 folder's vocabulary.txt (one a line, empty ones included)
    or vocabulary.json (a list) lists, or None when it has neither (or it cannot be read)."""
    files = files or {}
    txt, js = files.get("vocabulary.txt", folder / "vocabulary.txt"), \
        files.get("vocabulary.json", folder / "vocabulary.json")
    try:
        if txt.is_file():   # an empty line is a token too (multilingual Whisper's id 50256)
            data = txt.read_bytes()
            return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        if js.is_file():
            got = json.loads(js.read_text(encoding="utf-8"))
            return len(got) if isinstance(got, list) else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return None


def check_ct2_vocabulary(folder: Path, vocab_size: int,
                         files: dict[str, Path] | None = None) -> None:
    """Warn when a CTranslate2 folder's vocabulary file lists another number of tokens than
    its weights have rows: the folder is inconsistent (CTranslate2 / faster-whisper map ids to
    tokens through that file; speechbudget reads tokenizer.json, checked against the weights
    by check_tokenizer_vocabulary, so its transcripts are not affected)."""
    n = ct2_vocabulary_size(folder, files)
    if n is not None and n != vocab_size:
        import warnings
        warnings.warn(f"{folder}: its vocabulary file lists {n} tokens, the weights have "
                      f"{vocab_size}: an inconsistent CTranslate2 folder (a vocabulary of "
                      "another model, or a cut-off file); speechbudget decodes with its "
                      "tokenizer.json, but CTranslate2 and faster-whisper map token ids "
                      "through this file", stacklevel=3)


def load_tokenizer(where: str, local_files_only: bool = False,
                    shown: str | Path | None = None) -> Any:
    """WhisperTokenizerFast when transformers can build one, else the raw tokenizers.Tokenizer.
    A local tokenizer.json neither can read is ModelFileError naming it in `shown` (the folder
    the user gave, where `where` is a converted copy)."""
    from transformers import AutoTokenizer

    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(where, local_files_only=local_files_only)
    except Exception:  # noqa: BLE001 - fall back to the tokenizer.json itself
        p = Path(where) / "tokenizer.json"
        if p.exists():
            return read_tokenizer_json(p, Path(shown or where) / "tokenizer.json")
        raise
