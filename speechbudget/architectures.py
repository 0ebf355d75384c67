"""Known architectures by name: exact dimensions, available without any download.

Pure data (no torch): the configuration space (`axes`) validates against it, `flops`
counts with it, and `models.registry` turns it into Hugging Face configs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from speechbudget.errors import EXIT_MODEL, SpeechbudgetError

Family = Literal["whisper", "wav2vec2", "hubert", "wavlm"]
# the self-supervised encoders (SER backbones), also their transformers model_type
SSL_FAMILIES: tuple[Family, ...] = ("wav2vec2", "hubert", "wavlm")

# wav2vec2-family CNN feature encoder (identical for every size here)
W2V_CONV_DIM = (512, 512, 512, 512, 512, 512, 512)
W2V_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
W2V_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int
    d_model: int
    n_heads: int
    encoder_layers: int
    decoder_layers: int
    vocab_size: int
    ffn_dim: int
    max_source_positions: int = 1500  # encoder tokens for 30 s (3000 mel frames, conv stride 2)
    max_target_positions: int = 448


@dataclass(frozen=True)
class Wav2Vec2Dims:
    hidden_size: int
    num_layers: int
    num_heads: int
    ffn_dim: int
    feat_extract_norm: Literal["group", "layer"]
    do_stable_layer_norm: bool
    conv_bias: bool
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    conv_dim: tuple[int, ...] = W2V_CONV_DIM
    conv_kernel: tuple[int, ...] = W2V_CONV_KERNEL
    conv_stride: tuple[int, ...] = W2V_CONV_STRIDE
    # WavLM's gated relative position bias
    num_buckets: int = 320
    max_bucket_distance: int = 800


@dataclass(frozen=True)
class Architecture:
    name: str
    family: Family
    hub_id: str
    dims: WhisperDims | Wav2Vec2Dims
    english_only: bool = False

    @property
    def is_whisper(self) -> bool:
        return self.family == "whisper"

    @property
    def encoder_layers(self) -> int:
        d = self.dims
        return d.encoder_layers if isinstance(d, WhisperDims) else d.num_layers

    @property
    def hidden_size(self) -> int:
        d = self.dims
        return d.d_model if isinstance(d, WhisperDims) else d.hidden_size

    @property
    def max_window_s(self) -> float | None:
        """Longest input the model accepts (Whisper: 30 s); None when unbounded."""
        return 30.0 if self.is_whisper else None


def _whisper(name: str, hub: str, n_mels: int, d: int, heads: int, enc: int, dec: int,
             vocab: int) -> Architecture:
    dims = WhisperDims(n_mels=n_mels, d_model=d, n_heads=heads, encoder_layers=enc,
                       decoder_layers=dec, vocab_size=vocab, ffn_dim=4 * d)
    return Architecture(name, "whisper", hub, dims, english_only=name.endswith(".en"))


def _w2v(name: str, family: Family, hub: str, hidden: int, layers: int, heads: int,
         norm: Literal["group", "layer"], conv_bias: bool) -> Architecture:
    dims = Wav2Vec2Dims(hidden_size=hidden, num_layers=layers, num_heads=heads, ffn_dim=4 * hidden,
                        feat_extract_norm=norm, do_stable_layer_norm=(norm == "layer"),
                        conv_bias=conv_bias)
    return Architecture(name, family, hub, dims)


_ALL = [
    _whisper("tiny.en", "openai/whisper-tiny.en", 80, 384, 6, 4, 4, 51864),
    _whisper("tiny", "openai/whisper-tiny", 80, 384, 6, 4, 4, 51865),
    _whisper("base.en", "openai/whisper-base.en", 80, 512, 8, 6, 6, 51864),
    _whisper("base", "openai/whisper-base", 80, 512, 8, 6, 6, 51865),
    _whisper("small.en", "openai/whisper-small.en", 80, 768, 12, 12, 12, 51864),
    _whisper("small", "openai/whisper-small", 80, 768, 12, 12, 12, 51865),
    _whisper("medium.en", "openai/whisper-medium.en", 80, 1024, 16, 24, 24, 51864),
    _whisper("medium", "openai/whisper-medium", 80, 1024, 16, 24, 24, 51865),
    _whisper("large-v1", "openai/whisper-large", 80, 1280, 20, 32, 32, 51865),
    _whisper("large-v2", "openai/whisper-large-v2", 80, 1280, 20, 32, 32, 51865),
    _whisper("large-v3", "openai/whisper-large-v3", 128, 1280, 20, 32, 32, 51866),
    _whisper("large-v3-turbo", "openai/whisper-large-v3-turbo", 128, 1280, 20, 32, 4, 51866),
    # Distil-Whisper: the teacher's encoder, a 2-layer (small.en: 4-layer) decoder
    _whisper("distil-large-v3", "distil-whisper/distil-large-v3", 128, 1280, 20, 32, 2, 51866),
    _whisper("distil-large-v3.5", "distil-whisper/distil-large-v3.5", 128, 1280, 20, 32, 2,
             51866),
    _whisper("distil-large-v2", "distil-whisper/distil-large-v2", 80, 1280, 20, 32, 2, 51865),
    _whisper("distil-medium.en", "distil-whisper/distil-medium.en", 80, 1024, 16, 24, 2, 51864),
    _whisper("distil-small.en", "distil-whisper/distil-small.en", 80, 768, 12, 12, 4, 51864),
    _w2v("wav2vec2-base", "wav2vec2", "facebook/wav2vec2-base", 768, 12, 12, "group", False),
    _w2v("wav2vec2-large", "wav2vec2", "facebook/wav2vec2-large", 1024, 24, 16, "group", False),
    _w2v("wav2vec2-large-lv60", "wav2vec2", "facebook/wav2vec2-large-lv60", 1024, 24, 16, "layer", True),
    _w2v("wav2vec2-large-robust", "wav2vec2", "facebook/wav2vec2-large-robust", 1024, 24, 16, "layer", True),
    _w2v("hubert-base", "hubert", "facebook/hubert-base-ls960", 768, 12, 12, "group", False),
    _w2v("hubert-large", "hubert", "facebook/hubert-large-ll60k", 1024, 24, 16, "layer", True),
    _w2v("wavlm-base-plus", "wavlm", "microsoft/wavlm-base-plus", 768, 12, 12, "group", False),
    _w2v("wavlm-large", "wavlm", "microsoft/wavlm-large", 1024, 24, 16, "layer", False),
]

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in _ALL}
_BY_NAME: dict[str, Architecture] = {a.name.lower(): a for a in _ALL}
_BY_HUB_ID: dict[str, Architecture] = {a.hub_id.lower(): a for a in _ALL}


class UnknownModelError(SpeechbudgetError, ValueError):
    """A model name that is neither a known architecture nor its hub id."""

    exit_code = EXIT_MODEL


def registry_name(name: str) -> str | None:
    """The registry name `name` spells, else None: any case ('Tiny.en', 'TINY.EN'), surrounding
    whitespace ('tiny.en ', a name pasted with its newline) and a 'whisper-' prefix
    ('whisper-tiny.en') ignored. Hub ids are not registry names here (`get_architecture`)."""
    key = name.strip().lower()
    if key.startswith("whisper-") and key[len("whisper-"):] in _BY_NAME:
        key = key[len("whisper-"):]
    arch = _BY_NAME.get(key)
    return arch.name if arch is not None else None


def close_names(name: str, names: list[str] | None = None) -> list[str]:
    """Registry names (of `names`, default all) like `name`, best first: difflib's close matches
    ('tiny-en' -> tiny.en, 'larg-v3' -> large-v3), else those holding it ('turbo' ->
    large-v3-turbo); [] when none. The hub id's last part counts for its name
    ('whisper-smal' -> small)."""
    import difflib
    pool = list(ARCHITECTURES) if names is None else names
    key = name.strip().lower()
    key = key.rsplit("/", 1)[-1]
    if key.startswith("whisper-"):
        key = key[len("whisper-"):]
    if not key:
        return []
    close = difflib.get_close_matches(key, pool, n=3, cutoff=0.75)
    return close or [n for n in pool if key in n][:3]


def did_you_mean(name: str, names: list[str] | None = None) -> str:
    """'; did you mean 'tiny.en'?' (or two or three names) for `close_names`, else ''."""
    close = close_names(name, names)
    if not close:
        return ""
    quoted = [repr(n) for n in close]
    return "; did you mean " + (quoted[0] if len(quoted) == 1 else
                                ", ".join(quoted[:-1]) + " or " + quoted[-1]) + "?"


def get_architecture(name: str) -> Architecture:
    """Look up an architecture by short name ('tiny.en', 'wav2vec2-base'; any case, surrounding
    whitespace ignored, `registry_name`) or hub id (any case)."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    short = registry_name(name)
    if short is not None:
        return ARCHITECTURES[short]
    key = name.strip().lower()
    if key in _BY_HUB_ID:
        return _BY_HUB_ID[key]
    raise UnknownModelError(
        f"unknown model {name!r}: expected one of {', '.join(ARCHITECTURES)} or their hub ids"
        f"{did_you_mean(name)}")
