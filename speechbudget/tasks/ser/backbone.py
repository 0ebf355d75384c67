"""SER backbones: the Whisper encoder (any size) or a wav2vec2-family model (wav2vec2, HuBERT,
WavLM), each returning ALL hidden states of a batch of fixed-duration clips and a frame mask.

Whisper: the window is the clip duration: the encoder runs on exactly D * 100 mel frames through
`models.whisper_encoder.encode` (no padding to 30 s), with the configuration's token stride (xV).
Hidden states before the stride point are subsampled the same way, so that every hidden state has
the final token rate and the head's weighted layer sum is defined.
"""
from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import MutableMapping, Sequence

import torch
from torch import Tensor, nn

from speechbudget.geometry import HOP_LENGTH as HOP, SAMPLE_RATE, frames_for
from speechbudget.axes import Config
from speechbudget.models.whisper_encoder import TokenSelector, encode_layers, encode_layers_from, \
    encoder_tokens


def read_model_config(path: str | Path) -> dict:
    """A local model folder's config.json as a dict; ModelFileError (exit 5) naming the file when
    it is not UTF-8 JSON holding an object."""
    from speechbudget.models.file_checks import read_json_object

    return read_json_object(path, "model config")


def _is_whisper_source(source: str, default: bool | None = None) -> bool:
    """Whether `source` holds Whisper weights: a folder by its files, a name by the registry; a
    name the registry lacks is `default` (the configuration's family; None: UnknownModelError),
    a path-like name of no folder a ModelLoadError saying so (it was "unknown model '/x':
    expected one of tiny.en, ...")."""
    p = Path(source)
    if p.is_dir():
        from speechbudget.models.model_names import is_ct2_folder
        if is_ct2_folder(p):  # CTranslate2 (Whisper only here): its config.json has no model_type
            return True
        cfg = p / "config.json"
        return cfg.is_file() and read_model_config(cfg).get("model_type") == "whisper"
    from speechbudget.architectures import UnknownModelError, get_architecture
    from speechbudget.models.load_error import ModelLoadError
    from speechbudget.models.model_names import looks_like_path, no_such_folder
    try:
        return get_architecture(source).is_whisper
    except UnknownModelError:
        if looks_like_path(source):
            raise ModelLoadError(no_such_folder(source)) from None
        if default is None:
            raise
        return default


class KeptTokens(TokenSelector):
    """pool "attn": the TokenSelector that also keeps the indices it chose (`idx`, [B, n]), so that
    the frame mask can say which kept tokens are audio and which are padding."""

    idx: Tensor | None = None

    def forward(self, layer: nn.Module, h: Tensor, stride: int,
                audio_tokens: Tensor | None = None) -> Tensor:
        self.idx = super().forward(layer, h, stride, audio_tokens)
        return self.idx


class Backbone(nn.Module):
    """A loaded encoder and how to run it for SER under a Config (window = clip duration)."""

    def __init__(self, encoder: nn.Module, is_whisper: bool, config: Config, n_mels: int = 80):
        super().__init__()
        if config.precision != "fp32":
            raise ValueError(f"precision={config.precision!r}: SER runs in fp32 only")
        self.encoder = encoder
        self.is_whisper = is_whisper
        self.n_mels = n_mels
        self.duration = float(config.window)
        self.stride, self.stride_at, self.pool = config.stride, config.stride_at, config.pool
        if is_whisper:
            self.num_hidden_states = len(encoder.layers) + 1
            self.hidden_size = encoder.config.d_model
            self.frames = frames_for(self.duration)
            if self.frames > 2 * encoder.embed_positions.num_embeddings:
                raise ValueError(f"duration {self.duration:g} s: longer than the Whisper "
                                 f"encoder's {encoder.embed_positions.num_embeddings / 50:g} s")
        else:
            self.num_hidden_states = encoder.config.num_hidden_layers + 1
            self.hidden_size = encoder.config.hidden_size
            self.use_mask = getattr(encoder.config, "feat_extract_norm", "group") == "layer"
        check_layer_options(config, self.num_hidden_states - 1)

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    def frame_counts(self, n_valid: Sequence[int]) -> list[int]:
        """Tokens per clip that come from real audio (the rest is padding; pool "attn" keeps
        tokens by attention, so `forward` masks them by the indices kept instead)."""
        if self.is_whisper:
            return [encoder_tokens(math.ceil(n / HOP), self.stride) for n in n_valid]
        # the hidden states are the encoder's, before any adapter a checkpoint carries on top
        # (`add_adapter`: a downsampling of the last hidden state only), so its length without it
        lengths_of = self.encoder._get_feat_extract_output_lengths
        kw = ({"add_adapter": False}
              if "add_adapter" in inspect.signature(lengths_of).parameters else {})
        return [int(x) for x in lengths_of(torch.tensor(list(n_valid)), **kw)]

    def forward(self, waves: Tensor, n_valid: Sequence[int]) -> tuple[Tensor, Tensor]:
        """waves [B, D * 16000] (zero-padded), n_valid real samples per clip ->
        (hidden [N, B, T, H], mask [B, T])."""
        waves = waves.to(self.device)
        kept = None
        if self.is_whisper:
            from speechbudget.log_mel import log_mel_batch
            mel = log_mel_batch(list(waves), self.n_mels, self.frames, device=self.device)
            kept = KeptTokens() if self.pool == "attn" and self.stride > 1 else None
            # pool "attn": the clip's audio tokens rank before the window's padding, so that
            # min(kept, audio tokens) of them are kept (a short clip kept padding only before)
            real = [encoder_tokens(math.ceil(n / HOP)) for n in n_valid]
            hidden = encode_layers(self.encoder, mel, self.stride, self.stride_at, self.pool,
                                   selector=kept, audio_tokens=real if kept is not None else None)
        else:
            x = waves.clone()
            mask = torch.zeros_like(x, dtype=torch.long)
            for i, n in enumerate(n_valid):  # per-clip normalisation over real samples, as HF does
                seg = x[i, :n]
                x[i, :n] = (seg - seg.mean()) / torch.sqrt(seg.var(unbiased=False) + 1e-7)
                x[i, n:] = 0
                mask[i, :n] = 1
            out = self.encoder(x, attention_mask=mask if self.use_mask else None,
                               output_hidden_states=True)
            hidden = list(out.hidden_states)
        T = hidden[-1].shape[1]
        if kept is not None:  # the tokens kept by attention: audio where their index is below
            # the clip's audio tokens (not the first ceil(audio tokens / stride) of them)
            frame_mask = (kept.idx < torch.tensor(real, device=self.device)[:, None]).float()
            return torch.stack(hidden), frame_mask
        counts = self.frame_counts(n_valid)
        frame_mask = (torch.arange(T, device=self.device)[None, :]
                      < torch.tensor(counts, device=self.device)[:, None]).float()
        return torch.stack(hidden), frame_mask

    def forward_from(self, h: Tensor, start: int) -> Tensor:
        """Whisper only: the hidden states after `start` [L - start, B, T, H] from layer `start`'s
        input h [B, T, H] (a cached frozen prefix: `forward(...)[0][start]`)."""
        if not self.is_whisper:
            raise ValueError("forward_from: a cached prefix is implemented for Whisper encoders")
        return torch.stack(encode_layers_from(self.encoder, h.to(self.device), start))


def check_layer_options(config: Config, layers: int) -> None:
    """ConfigError naming the option when weights of `layers` encoder layers (a custom size,
    named by an architecture with another layer count) meet an option that counts layers
    (`unfreeze_top`, `lora_top`, a stride after a layer): those are checked, cached and counted on
    the architecture's layers, so they would fail deep inside (IndexError, exit 70) or act on
    other layers than the configuration says."""
    from speechbudget.axes import ConfigError

    if layers == config.arch.encoder_layers:
        return
    a = config.adaptation
    used = [(f"adaptation.{k}", v) for k, v in (("unfreeze_top", a.unfreeze_top),
                                                ("lora_top", a.lora_top)) if v]
    if config.stride > 1 and config.stride_at != "output":
        used.append(("stride_at", config.stride_at))
    if used:
        raise ConfigError(used[0][0], used[0][1], f"it counts the {config.arch.encoder_layers} "
                          f"encoder layers of {config.model}, but the weights loaded have "
                          f"{layers}; name an architecture of {layers} layers, or leave "
                          f"the option out")


def load_encoder(source: str, device: str = "cpu", is_whisper: bool | None = None
                 ) -> tuple[nn.Module, bool, int]:
    """(encoder module, is_whisper, n_mels) from a registry name, hub id or local folder, through
    `speechbudget.models.loading`; `is_whisper`: the family of a hub id the registry lacks."""
    from speechbudget.models.loading import load_ssl_backbone, load_whisper

    if _is_whisper_source(source, is_whisper):
        bundle = load_whisper(source, device=device, dtype=torch.float32, tokenizer=False)
        encoder = bundle.model.model.encoder
        return encoder, True, int(bundle.n_mels)
    model, _arch = load_ssl_backbone(source, device=device)
    return model, False, 0


def build_backbone(config: Config, source: str | None = None, device: str = "cpu",
                   encoders: MutableMapping | None = None) -> Backbone:
    """The backbone for `config` (weights from `source`, default the config's model), frozen.
    `encoders` (a dict the caller owns, e.g. `SerTask.encoders`; frozen backbones only: the caller
    must not modify the encoder) keeps the loaded encoder by (source, device) and reuses it across
    folds and durations instead of loading it again."""
    key = (source or config.model, str(device))
    if encoders is not None and key in encoders:
        encoder, is_whisper, n_mels = encoders[key]
    else:
        encoder, is_whisper, n_mels = load_encoder(key[0], device, config.arch.is_whisper)
        encoder.eval()
        for p in encoder.parameters():
            p.requires_grad_(False)
        if encoders is not None:
            encoders[key] = (encoder, is_whisper, n_mels)
    from speechbudget.models.weights_arch import architecture_of, check_weights_arch
    check_weights_arch(config.model, architecture_of(key[0], encoder.config), key[0],
                       encoder_only=True)  # ConfigError: weights of another architecture
    return Backbone(encoder, is_whisper, config, n_mels)


def samples_for(duration_s: float) -> int:
    return int(round(duration_s * SAMPLE_RATE))
