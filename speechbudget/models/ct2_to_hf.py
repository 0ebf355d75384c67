"""Convert a CTranslate2 Whisper model to a Hugging Face `WhisperForConditionalGeneration`.

    folder = convert_cached(CT2Source(files=[.../model.bin], folder=...))   # once; later: cached
    model = WhisperForConditionalGeneration.from_pretrained(folder)

Name mapping (CTranslate2 WhisperSpec -> HF), per layer i:
    encoder/conv{1,2}                            -> model.encoder.conv{1,2}
    encoder/position_encodings/encodings         -> model.encoder.embed_positions.weight
    */self_attention/linear_0  [3d, d] = q;k;v   -> self_attn.{q,k,v}_proj  (k bias dropped)
    */self_attention/linear_1                    -> self_attn.out_proj
    */self_attention/layer_norm {gamma,beta}     -> self_attn_layer_norm {weight,bias}
    decoder/layer_i/attention/linear_0 = q       -> encoder_attn.q_proj
    decoder/layer_i/attention/linear_1 [2d, d]   -> encoder_attn.{k,v}_proj  (k bias dropped)
    decoder/layer_i/attention/linear_2           -> encoder_attn.out_proj
    decoder/layer_i/attention/layer_norm         -> encoder_attn_layer_norm
    */ffn/linear_{0,1}, */ffn/layer_norm         -> fc1, fc2, final_layer_norm
    {encoder,decoder}/layer_norm                 -> model.{encoder,decoder}.layer_norm
    decoder/embeddings/weight                    -> model.decoder.embed_tokens.weight
    decoder/position_encodings/encodings         -> model.decoder.embed_positions.weight
    decoder/projection/weight (alias of the embedding) -> proj_out.weight (tied)

Dropping the key bias is exact: q.(k + b) = q.k + q.b adds the same number to every key's score
for a query, which softmax ignores (CTranslate2 stores it as zeros anyway).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from speechbudget.architectures import WhisperDims
from speechbudget.errors import OutputError, make_output_dir
from speechbudget.models.ct2_reader import CT2Model, ModelFileError, find_parts, read_ct2
from speechbudget.models.file_digest import DigestIndex, sha256_file
from speechbudget.models.registry import (WHISPER_VOCAB_SIZES, whisper_config_from_dims,
                                          whisper_tokens)

CONVERTER_VERSION = 1
# copied into the converted folder: the tokenizer (tokenizer.json, or the BPE files vocab.json +
# merges.txt with added_tokens.json) and CTranslate2's vocabulary file
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json",
                   "vocabulary.txt", "vocabulary.json", "preprocessor_config.json")


def cache_root() -> Path:
    """`$SPEECHBUDGET_CACHE`, default ~/.cache/speechbudget."""
    env = os.environ.get("SPEECHBUDGET_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "speechbudget"


@dataclass
class CT2Source:
    """A CTranslate2 Whisper model: the ordered model.bin part files and the folder holding
    config.json / tokenizer.json (which for a split package may differ from the parts' folders)."""

    files: list[Path]
    folder: Path
    name: str = ""
    extra_files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "CT2Source":
        folder = Path(folder)
        return cls(files=find_parts(folder), folder=folder, name=folder.name)

    def key_files(self) -> list[tuple[str, Path]]:
        """(role, path) of every file the conversion reads: the parts in order, config.json and
        the tokenizer files copied with it (those that exist)."""
        roles = [(f"part{i + 1}", p) for i, p in enumerate(self.files)]
        roles.append(("config.json", self.folder / "config.json"))
        roles += [(f, self.extra_files.get(f, self.folder / f)) for f in TOKENIZER_FILES]
        return [(r, p) for r, p in roles if r.startswith("part") or p.is_file()]

    def fingerprint(self, digests: DigestIndex | None = None) -> str:
        """Key of the converted copy: the size and SHA-256 of each part, of config.json and of
        the tokenizer files copied with it (a replaced tokenizer.json gives a new copy), and the
        converter version; not where the files are (the same weights installed in another
        checkout's environment find the same copy). `digests` remembers the hashes of files
        seen before (DigestIndex); without it every file is hashed."""
        digests = digests if digests is not None else DigestIndex(None)
        h = hashlib.sha256(f"speechbudget-ct2-hf/content/v{CONVERTER_VERSION}\n".encode())
        for role, p in self.key_files():
            size, sha = digests.digest(p)
            h.update(f"{role}\t{size}\t{sha}\n".encode())
        return h.hexdigest()[:16]


def _ct2_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.exists():
        return {}
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: not a CTranslate2 config (a JSON {type(cfg).__name__}, "
                             "not an object)")
    return cfg


def _id_list(ct2_config: dict, key: str, default: list[int], where: str) -> list[int]:
    """A list of token ids from the CTranslate2 config; `default` when absent or null (its
    converter writes null, e.g. "suppress_ids": null for a model without suppress_tokens)."""
    value = ct2_config.get(key)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                              for i in value):
        raise ModelFileError(f"{where}: {key} = {value!r}, expected a list of token ids")
    return list(value)


WHISPER_SPEC_REVISION = 3   # ctranslate2's WhisperSpec.revision; CTranslate2 refuses later ones


def _count_layers(ct2: CT2Model, prefix: str) -> int:
    """Layers 0..n-1 of `prefix`; ModelFileError when a later layer is stored but layer n is not
    (a gap: counting up to it would silently drop every layer after it)."""
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in ct2:
        n += 1
    head = f"{prefix}/layer_"
    stored = {int(k[len(head):].split("/", 1)[0]) for k in list(ct2.variables) + list(ct2.aliases)
              if k.startswith(head) and k[len(head):].split("/", 1)[0].isdigit()}
    if stored and max(stored) >= n:
        raise ModelFileError(f"{ct2.source}: {prefix}/layer_{n}/ffn/linear_0/weight is missing "
                             f"while {prefix}/layer_{max(stored)} is stored")
    return n


def infer_dims(ct2: CT2Model) -> WhisperDims:
    """Whisper dimensions read off the stored weights."""
    if ct2.spec != "WhisperSpec":
        raise ModelFileError(f"{ct2.source}: holds a {ct2.spec!r} model, expected 'WhisperSpec'")
    if ct2.revision > WHISPER_SPEC_REVISION:
        raise ModelFileError(f"{ct2.source}: WhisperSpec revision {ct2.revision}, newer than "
                             f"revision {WHISPER_SPEC_REVISION} that this reader knows (made by a "
                             "later CTranslate2, which may lay the weights out differently)")
    try:
        conv1 = ct2.raw("encoder/conv1/weight")
        d_model, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
        heads = int(ct2.raw("encoder/num_heads").reshape(())) if "encoder/num_heads" in ct2 else 0
        dims = WhisperDims(
            n_mels=n_mels, d_model=d_model, n_heads=heads or max(1, d_model // 64),
            encoder_layers=_count_layers(ct2, "encoder"),
            decoder_layers=_count_layers(ct2, "decoder"),
            vocab_size=int(ct2.raw("decoder/embeddings/weight").shape[0]),
            ffn_dim=int(ct2.raw("encoder/layer_0/ffn/linear_0/weight").shape[0]),
            max_source_positions=int(ct2.raw("encoder/position_encodings/encodings").shape[0]),
            max_target_positions=int(ct2.raw("decoder/position_encodings/encodings").shape[0]),
        )
    except (KeyError, IndexError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{ct2.source}: not a complete Whisper model ({e})") from e
    if dims.encoder_layers == 0 or dims.decoder_layers == 0:
        raise ModelFileError(f"{ct2.source}: no encoder/decoder layers found")
    if dims.vocab_size not in WHISPER_VOCAB_SIZES:
        raise ModelFileError(
            f"{ct2.source}: decoder/embeddings/weight has {dims.vocab_size} tokens, not a Whisper "
            "vocabulary (51864 English-only, 51865 multilingual, 51866 large-v3): the special "
            "token ids are derived from it")
    return dims


def check_shapes(sd: dict[str, torch.Tensor], dims: WhisperDims, source: str) -> None:
    """ModelFileError naming the first weight whose shape is not what the dimensions read off
    the file need (a model.bin whose layers disagree with each other)."""
    from transformers import WhisperForConditionalGeneration

    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in
                WhisperForConditionalGeneration(whisper_config_from_dims(dims)).state_dict().items()}
    for name, t in sd.items():
        if name in want and tuple(t.shape) != want[name]:
            raise ModelFileError(
                f"{source}: inconsistent weights: {name} (Hugging Face name) has shape "
                f"{tuple(t.shape)}, but d_model {dims.d_model}, ffn {dims.ffn_dim}, n_mels "
                f"{dims.n_mels}, vocabulary {dims.vocab_size} (read off encoder/conv1, "
                f"encoder/layer_0/ffn and decoder/embeddings) need {want[name]}")


def _t(ct2: CT2Model, name: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(ct2.weight(name)))


def _linear(sd: dict, ct2: CT2Model, src: str, dst: str, bias: bool = True) -> None:
    sd[f"{dst}.weight"] = _t(ct2, f"{src}/weight")
    if bias:
        sd[f"{dst}.bias"] = _t(ct2, f"{src}/bias")


def _norm(sd: dict, ct2: CT2Model, src: str, dst: str) -> None:
    sd[f"{dst}.weight"] = _t(ct2, f"{src}/gamma")
    sd[f"{dst}.bias"] = _t(ct2, f"{src}/beta")


def _split_linear(sd: dict, ct2: CT2Model, src: str, dsts: list[str]) -> None:
    """A stacked [n*d, d] linear into n projections; a k projection's bias is dropped."""
    w, b = _t(ct2, f"{src}/weight"), _t(ct2, f"{src}/bias")
    n = len(dsts)
    if w.shape[0] % n:
        raise ModelFileError(f"{ct2.source}: {src}/weight has {w.shape[0]} rows, not {n} x d")
    for i, (wi, bi) in enumerate(zip(w.chunk(n), b.chunk(n))):
        name = dsts[i]
        if name.endswith("k_proj"):
            sd[f"{name}.weight"] = wi.clone()
        else:
            sd[f"{name}.weight"], sd[f"{name}.bias"] = wi.clone(), bi.clone()


def state_dict_from_ct2(ct2: CT2Model, dims: WhisperDims) -> tuple[dict[str, torch.Tensor], bool]:
    """HF WhisperForConditionalGeneration state dict (float32) and whether proj_out is tied."""
    sd: dict[str, torch.Tensor] = {}
    for k in (1, 2):
        _linear(sd, ct2, f"encoder/conv{k}", f"model.encoder.conv{k}")
    sd["model.encoder.embed_positions.weight"] = _t(ct2, "encoder/position_encodings/encodings")
    for i in range(dims.encoder_layers):
        s, d = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        _split_linear(sd, ct2, f"{s}/self_attention/linear_0",
                      [f"{d}.self_attn.q_proj", f"{d}.self_attn.k_proj", f"{d}.self_attn.v_proj"])
        _linear(sd, ct2, f"{s}/self_attention/linear_1", f"{d}.self_attn.out_proj")
        _norm(sd, ct2, f"{s}/self_attention/layer_norm", f"{d}.self_attn_layer_norm")
        _linear(sd, ct2, f"{s}/ffn/linear_0", f"{d}.fc1")
        _linear(sd, ct2, f"{s}/ffn/linear_1", f"{d}.fc2")
        _norm(sd, ct2, f"{s}/ffn/layer_norm", f"{d}.final_layer_norm")
    _norm(sd, ct2, "encoder/layer_norm", "model.encoder.layer_norm")

    sd["model.decoder.embed_tokens.weight"] = _t(ct2, "decoder/embeddings/weight")
    sd["model.decoder.embed_positions.weight"] = _t(ct2, "decoder/position_encodings/encodings")
    for i in range(dims.decoder_layers):
        s, d = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        _split_linear(sd, ct2, f"{s}/self_attention/linear_0",
                      [f"{d}.self_attn.q_proj", f"{d}.self_attn.k_proj", f"{d}.self_attn.v_proj"])
        _linear(sd, ct2, f"{s}/self_attention/linear_1", f"{d}.self_attn.out_proj")
        _norm(sd, ct2, f"{s}/self_attention/layer_norm", f"{d}.self_attn_layer_norm")
        _linear(sd, ct2, f"{s}/attention/linear_0", f"{d}.encoder_attn.q_proj")
        _split_linear(sd, ct2, f"{s}/attention/linear_1",
                      [f"{d}.encoder_attn.k_proj", f"{d}.encoder_attn.v_proj"])
        _linear(sd, ct2, f"{s}/attention/linear_2", f"{d}.encoder_attn.out_proj")
        _norm(sd, ct2, f"{s}/attention/layer_norm", f"{d}.encoder_attn_layer_norm")
        _linear(sd, ct2, f"{s}/ffn/linear_0", f"{d}.fc1")
        _linear(sd, ct2, f"{s}/ffn/linear_1", f"{d}.fc2")
        _norm(sd, ct2, f"{s}/ffn/layer_norm", f"{d}.final_layer_norm")
    _norm(sd, ct2, "decoder/layer_norm", "model.decoder.layer_norm")

    tied = ("decoder/projection/weight" not in ct2
            or ct2.resolve("decoder/projection/weight") == ct2.resolve("decoder/embeddings/weight"))
    if not tied:
        sd["proj_out.weight"] = _t(ct2, "decoder/projection/weight")
    return sd, tied


def _storage_dtype(ct2: CT2Model) -> torch.dtype:
    """The narrowest float dtype that holds every stored weight exactly."""
    kinds = {v.dtype for k, v in ct2.variables.items()
             if v.ndim >= 1 and not k.endswith("_scale") and v.dtype != np.int32}
    if kinds == {np.dtype(np.float16)}:
        return torch.float16
    return torch.float32  # float32, int8/int16 de-quantised, or bfloat16 (read as float32)


def generation_settings(dims: WhisperDims, ct2_config: dict, where: str = "config.json") -> dict:
    """Whisper generation settings for transformers' GenerationConfig (NOTES.md):
    suppress_tokens from CTranslate2's suppress_ids, begin_suppress [220, eot], no timestamps."""
    tok = whisper_tokens(dims.vocab_size)
    multilingual = dims.vocab_size >= 51865
    settings = {
        "decoder_start_token_id": tok.sot, "bos_token_id": 50257, "eos_token_id": tok.eot,
        "pad_token_id": tok.eot,
        "suppress_tokens": _id_list(ct2_config, "suppress_ids", [], where),
        "begin_suppress_tokens": _id_list(ct2_config, "suppress_ids_begin", [220, tok.eot], where),
        "no_timestamps_token_id": tok.no_timestamps, "is_multilingual": multilingual,
        "return_timestamps": False,
        "max_initial_timestamp_index": 50,
        "task_to_id": {"translate": tok.translate, "transcribe": tok.transcribe},
    }
    if ct2_config.get("alignment_heads"):
        settings["alignment_heads"] = [list(x) for x in ct2_config["alignment_heads"]]
    return settings


def _lang_to_id(folder: Path, dims: WhisperDims) -> dict[str, int]:
    tok = whisper_tokens(dims.vocab_size)
    path = folder / "tokenizer.json"
    if not path.exists():
        return {}
    from tokenizers import Tokenizer

    t = Tokenizer.from_file(str(path))
    out = {}
    for i in range(tok.first_language, tok.first_language + tok.n_languages):
        s = t.id_to_token(i)
        if s and s.startswith("<|") and s.endswith("|>"):
            out[s] = i
    return out


def convert(source: CT2Source, out_dir: str | Path) -> Path:
    """Convert `source` into `out_dir` (model.safetensors, config.json, generation_config.json,
    the tokenizer files and source.json). Overwrites `out_dir`."""
    from safetensors.torch import save_file
    from transformers import GenerationConfig

    out_dir = Path(out_dir)
    ct2 = read_ct2(source.files, expected_spec="WhisperSpec")
    dims = infer_dims(ct2)
    ct2_config = _ct2_config(source.folder)
    sd, tied = state_dict_from_ct2(ct2, dims)
    check_shapes(sd, dims, ct2.source)
    dtype = _storage_dtype(ct2)
    cfg = whisper_config_from_dims(dims)
    cfg.tie_word_embeddings = tied
    cfg.dtype = dtype
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in sd.items()}, str(out_dir / "model.safetensors"),
              metadata={"format": "pt"})
    cfg.save_pretrained(out_dir)
    gen = generation_settings(dims, ct2_config, str(source.folder / "config.json"))
    lang_to_id = _lang_to_id(source.folder, dims) if gen["is_multilingual"] else {}
    if lang_to_id:
        gen["lang_to_id"] = lang_to_id
    GenerationConfig(**gen).save_pretrained(out_dir)
    for fname in TOKENIZER_FILES:
        src = source.extra_files.get(fname, source.folder / fname)
        if src.exists():
            shutil.copyfile(src, out_dir / fname)
    if (out_dir / "tokenizer.json").exists() or (out_dir / "vocab.json").exists():
        (out_dir / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "WhisperTokenizer", "model_max_length": 1024,
            "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
            "errors": "replace", "add_prefix_space": False}, indent=2))
    (out_dir / "source.json").write_text(json.dumps({
        "converted_from": [str(p) for p in source.files], "ct2_spec": ct2.spec,
        "ct2_revision": ct2.revision, "converter_version": CONVERTER_VERSION,
        "stored_dtypes": sorted({str(v.dtype) for v in ct2.variables.values()}),
    }, indent=2))
    return out_dir


ORPHAN_AGE_S = 3600.0  # a temporary conversion folder this old belongs to a dead process


def _record_files(folder: Path, key: str) -> None:
    """Add the cache key and each file's size and SHA-256 to source.json, fsync every file and
    the folder."""
    info = json.loads((folder / "source.json").read_text())
    info["source_key"] = key
    info["files"] = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                     for p in sorted(folder.iterdir()) if p.is_file() and p.name != "source.json"}
    (folder / "source.json").write_text(json.dumps(info, indent=2))
    for p in folder.iterdir():
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def verify_cached(folder: Path, digests: DigestIndex | None = None) -> str | None:
    """None when the converted folder is intact, else what is wrong (a file missing, of
    another size or content than recorded at conversion). A folder converted before the record
    existed (no "files" in source.json) is checked for its two essential files only. `digests`
    (the cache's DigestIndex) gives the SHA-256 of a file whose size, mtime, ctime and inode are
    those it was last hashed with; without it every file is hashed."""
    try:
        info = json.loads((folder / "source.json").read_text())
    except (OSError, ValueError) as e:
        return f"{folder / 'source.json'}: unreadable ({e})"
    files = info.get("files")
    if not isinstance(files, dict):
        return None if (folder / "model.safetensors").is_file() else \
            f"{folder / 'model.safetensors'}: missing"
    for name, rec in files.items():
        p = folder / name
        if not p.is_file():
            return f"{p}: missing"
        if p.stat().st_size != rec.get("size"):
            return f"{p}: {p.stat().st_size} bytes, {rec.get('size')} when converted (truncated?)"
        sha = digests.digest(p)[1] if digests is not None else sha256_file(p)
        if sha != rec.get("sha256"):
            return f"{p}: content differs from the conversion's SHA-256"
    return None


def _remove_orphans(root: Path, name: str) -> None:
    """Temporary folders of conversions whose process died (older than ORPHAN_AGE_S)."""
    now = time.time()
    for p in root.glob(f".{name}-*"):
        try:
            if p.is_dir() and now - p.stat().st_mtime > ORPHAN_AGE_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


DIGEST_INDEX = "digests.json"  # in the cache folder: SHA-256 of source and cached files


def _cached_copy(root: Path, name: str, key: str, digests: DigestIndex) -> Path | None:
    """A verified converted copy for `key`: `<name>-<key>`, else one converted under another name
    (the same files loaded by registry name and as a folder). A damaged copy is removed (with a
    warning naming the file) and an unfinished one (no source.json) too; None when none is left."""
    own = root / f"{name}-{key}"
    found = [own] + sorted(p for p in root.glob(f"*-{key}")
                           if p != own and not p.name.startswith("."))
    for folder in found:
        if not folder.is_dir():
            continue
        if not (folder / "source.json").exists():  # not a finished conversion
            shutil.rmtree(folder, ignore_errors=True)
            continue
        problem = verify_cached(folder, digests)
        if problem is None:
            return folder
        import warnings
        warnings.warn(f"model cache damaged, converting again: {problem}", stacklevel=3)
        trash = Path(tempfile.mkdtemp(prefix=f".{name}-broken-", dir=root))
        try:
            folder.rename(trash / "old")
        except OSError:
            pass
        shutil.rmtree(trash, ignore_errors=True)
    return None


def convert_cached(source: CT2Source, cache_dir: str | Path | None = None) -> Path:
    """The converted folder for `source`, converting on first use only. Keyed by the content of
    the source files (their sizes and SHA-256, remembered per path, size, mtime, ctime and inode
    in the cache's digests.json so an unchanged file is hashed once) and the converter version,
    not by their path: the same weights in another checkout's environment reuse the copy.
    Written to a temporary folder (every file and the folder fsynced) and renamed, so an
    interrupted conversion leaves nothing half-written behind. A cached folder is verified
    (sizes and SHA-256 recorded at conversion) on every use, a file hashed again only when its
    size, mtime, ctime or inode changed since it was last hashed (digests.json, as for the
    source files); a damaged one is removed and converted again."""
    root = Path(cache_dir) if cache_dir is not None else cache_root() / "ct2-hf"
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in (source.name or "model"))
    digests = DigestIndex(root / DIGEST_INDEX if root.is_dir() else None)
    key = source.fingerprint(digests)
    cached = _cached_copy(root, name, key, digests) if root.is_dir() else None
    if cached is not None:
        digests.save()
        return cached
    final = root / f"{name}-{key}"
    what = "model cache" + (" ($SPEECHBUDGET_CACHE)" if cache_dir is None and
                            os.environ.get("SPEECHBUDGET_CACHE") else "")
    make_output_dir(root, what)
    _remove_orphans(root, name)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    except OSError as e:
        raise OutputError(f"{what} {root}: cannot write the converted model there "
                          f"({e.strerror or e})") from None
    tmp.chmod(0o755)
    try:
        try:
            convert(source, tmp)
            _record_files(tmp, key)
        except OSError as e:
            if not str(e.filename or "").startswith(str(tmp)):
                raise   # reading the source, not writing the cache
            raise OutputError(f"{what} {root}: cannot write the converted model there "
                              f"({e.strerror or e})") from None
        try:
            tmp.rename(final)
        except OSError:  # another process finished first
            if not (final / "source.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _remove_superseded(root, final, source)
    digests.path = root / DIGEST_INDEX
    digests.save()
    _fsync_dir(root)
    return final


def _remove_superseded(root: Path, final: Path, source: CT2Source) -> None:
    """Conversions no key can reach again, which would otherwise stay on disk for good (one copy
    per reinstall of a package, one per checkout before the key was the content):
    - any earlier conversion of the same source paths (their content, tokenizer or the converter
      version changed since; another place holding the old files converts them again);
    - a conversion keyed by path (made before source_key was recorded) whose source files are
      all gone (a deleted checkout's environment)."""
    files = [str(p) for p in source.files]
    for p in root.iterdir():
        if p == final or p.name.startswith(".") or not p.is_dir():
            continue
        try:
            info = json.loads((p / "source.json").read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict):
            continue
        was = info.get("converted_from")
        gone = ("source_key" not in info and isinstance(was, list) and was
                and all(isinstance(f, str) and os.path.isabs(f) and not os.path.exists(f)
                        for f in was))
        if was == files or gone:
            shutil.rmtree(p, ignore_errors=True)
