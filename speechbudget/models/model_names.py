"""What a model name means: a registry name (its bundled offline weights when installed, else its
hub id), a hub id ('owner/name'), a Hugging Face folder or a CTranslate2 folder; and the messages
for a name that is none of them."""
from __future__ import annotations

import os
from pathlib import Path

from speechbudget.architectures import (ARCHITECTURES, UnknownModelError, did_you_mean,
                                         get_architecture, registry_name)
from speechbudget.models.ct2_reader import ModelFileError
from speechbudget.models.ct2_to_hf import CT2Source
from speechbudget.models.file_checks import check_whisper_config, read_json_object, weight_files
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.offline import OFFLINE_MODELS, offline_source


def is_ct2_folder(p: Path) -> bool:
    """A folder with model.bin or any of its parts (model.bin.part1, ...: a missing first part
    is then reported by the reader, not taken for a Hugging Face folder)."""
    return p.is_dir() and ((p / "model.bin").exists() or any(p.glob("model.bin.part*")))


def is_hf_folder(p: Path) -> bool:
    """A folder with config.json that is not a CTranslate2 folder."""
    return p.is_dir() and (p / "config.json").exists() and not is_ct2_folder(p)


def looks_like_path(name: str) -> bool:
    """A model name written as a path, so a folder and never a registry name or hub id: it starts
    with '.', '/' or '~' ('./tiny.en', '../m', '~/m'), ends with a slash ('tiny.en/': a shell
    completes a folder so), or has more than one '/' ('models/whisper/tiny'; a hub id is
    'owner/name'), or has one and its first part is a local folder ('models/tiny' beside a folder
    'models': 'ct2/model.bin' whose model.bin is missing was tried as a hub id)."""
    seps = ("/", os.sep)
    slashes = sum(name.count(c) for c in set(seps))
    return (name.startswith((".", "/", "~")) or name.endswith(seps) or slashes > 1
            or (slashes == 1 and model_path(name).parent.is_dir()))


def model_path(name: str) -> Path:
    """`name` as a path, '~' and '~user' expanded; as written when there is no such home
    ('~nosuchuser/m': pathlib's RuntimeError), which is then no such folder."""
    try:
        return Path(name).expanduser()
    except RuntimeError:
        return Path(name)


def no_such_folder(name: str) -> str:
    """The message for a path-looking model name (`looks_like_path`) that is no folder:
    "'tiny.en/': no such folder (/abs/tiny.en); without the trailing slash, 'tiny.en' names the
    registry model", the hint only when the name less its trailing slash (or, for './tiny.en',
    its last part) is a registry name or a hub id."""
    where = model_path(name).absolute()
    stripped = name.rstrip("/" + os.sep)
    hint = ""
    if stripped != name and stripped and not looks_like_path(stripped):
        if "/" in stripped:   # 'owner/name/'
            hint = f"; without the trailing slash, {stripped!r} is a hub id"
        else:
            try:
                arch = get_architecture(stripped)
                hint = (f"; without the trailing slash, {stripped!r} names the registry model"
                        + (f" {arch.name!r}" if arch.name != stripped else ""))
            except UnknownModelError:
                pass
    if not hint and stripped:
        try:
            arch = get_architecture(Path(stripped).name)
            hint = f"; {arch.name!r} (not a path) names the registry model"
        except UnknownModelError:
            pass
    return f"{name!r}: no such folder ({where}){hint}"


def file_not_folder(p: Path) -> str:
    """The message for a model name that is a file (a folder's config.json or weights)."""
    return f"{p}: a file, not a model folder; pass the folder that holds the model ({p.parent})"


def missing_ct2_weights(p: Path) -> None:
    """ModelFileError for a CTranslate2 folder whose model.bin is missing: its config.json (no
    model_type) and vocabulary file are there and no Hugging Face weights, so it was taken for a
    Hugging Face folder and transformers said 'no file named model.safetensors, or
    pytorch_model.bin'."""
    vocab = next((f for f in ("vocabulary.txt", "vocabulary.json") if (p / f).is_file()), None)
    if vocab is None or weight_files(p):
        return
    if "model_type" not in read_json_object(p / "config.json", "model config"):
        raise ModelFileError(f"{p}: a CTranslate2 model folder (config.json, {vocab}) without "
                             "its weights, model.bin: copy or download model.bin into it again")


def resolve_whisper(name_or_path: str) -> tuple[str, str, CT2Source | None]:
    """(where to load from, a description of the source, the CT2 source if any)."""
    if not name_or_path.strip():  # Path('') is the working folder: '.: neither ...' was said
        raise ModelLoadError(f"{name_or_path!r}: an empty model name; expected a registry name "
                             f"({', '.join(n for n, a in ARCHITECTURES.items() if a.is_whisper)}),"
                             " a hub id ('owner/name') or a model folder")
    p = model_path(name_or_path)
    if not p.exists():  # a folder's name is kept as written, whatever its case or spaces
        if "/" not in name_or_path:  # 'Tiny.en', 'tiny.en ', 'whisper-tiny.en' (as Config reads)
            name_or_path = registry_name(name_or_path) or name_or_path
        elif name_or_path.strip() != name_or_path and not looks_like_path(name_or_path.strip()):
            name_or_path = name_or_path.strip()  # ' openai/whisper-tiny.en': no hub id has spaces
    if name_or_path in ARCHITECTURES:
        arch = ARCHITECTURES[name_or_path]
        if not arch.is_whisper:
            raise ModelLoadError(f"{name_or_path!r} is a {arch.family} model, not Whisper")
        src = offline_source(name_or_path)
        if src is not None:
            pkgs = "+".join(OFFLINE_MODELS[name_or_path].pip)
            return name_or_path, f"offline:{pkgs} ({src.files[0].parent})", src
        return arch.hub_id, f"hub:{arch.hub_id}", None
    if p.exists():
        if is_ct2_folder(p):
            return str(p), f"ctranslate2:{p}", CT2Source.from_folder(p)
        if is_hf_folder(p):
            check_whisper_config(p)
            missing_ct2_weights(p)
            return str(p), f"local:{p}", None
        if p.is_file() and (p.name == "model.bin" or ".part" in p.name):
            return str(p.parent), f"ctranslate2:{p.parent}", CT2Source.from_folder(p.parent)
        if p.is_file():  # config.json or model.safetensors of a folder: name the folder
            raise ModelLoadError(file_not_folder(p))
        raise ModelLoadError(f"{p}: neither a Hugging Face model folder (config.json) nor a "
                             "CTranslate2 one (model.bin)")
    if looks_like_path(name_or_path):
        raise ModelLoadError(no_such_folder(name_or_path))
    if name_or_path.count("/") != 1:
        whisper = [n for n, a in ARCHITECTURES.items() if a.is_whisper]
        raise ModelLoadError(
            f"{name_or_path!r}: no such folder, and not a registry name ({', '.join(whisper)}) "
            f"or a hub id ('owner/name'){did_you_mean(name_or_path, whisper)}")
    return name_or_path, f"hub:{name_or_path}", None
