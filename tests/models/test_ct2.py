"""CTranslate2 reader and converter on tiny synthetic model.bin files written here.

The writer below follows ctranslate2/specs/model_spec.py `_serialize` (see ct2_reader's docstring):
a random tiny HF Whisper is written the way CTranslate2's converter lays it out (fused q/k/v with a
zero k bias, cross-attention k/v stacked, gamma/beta, the projection as an alias), in each storage
dtype, optionally split into parts; our converter must give back the source weights.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from speechbudget.models.ct2_reader import ModelFileError, find_parts, read_ct2
from speechbudget.models.ct2_to_hf import CT2Source, convert, convert_cached

DTYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def tiny_whisper(seed: int = 0, vocab: int = 51864) -> WhisperForConditionalGeneration:
    torch.manual_seed(seed)
    cfg = WhisperConfig(vocab_size=vocab, num_mel_bins=4, d_model=8, encoder_layers=2,
                        decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=16, decoder_ffn_dim=16, max_source_positions=6,
                        max_target_positions=10)
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a swapped gamma/beta shows
        for name, p in model.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def ct2_variables(model: WhisperForConditionalGeneration) -> dict[str, np.ndarray]:
    """The variables CTranslate2's Whisper converter writes (float32, before quantisation)."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    cfg = model.config
    out: dict[str, np.ndarray] = {}

    def lin(src, dst, bias=True):
        out[f"{dst}/weight"] = sd[f"{src}.weight"]
        if bias:
            out[f"{dst}/bias"] = sd[f"{src}.bias"]

    def norm(src, dst):
        out[f"{dst}/gamma"], out[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(prefix, names, dst):
        out[f"{dst}/weight"] = np.concatenate([sd[f"{prefix}.{n}.weight"] for n in names])
        out[f"{dst}/bias"] = np.concatenate([
            sd[f"{prefix}.{n}.bias"] if n != "k_proj" else np.zeros(cfg.d_model, np.float32)
            for n in names])

    for k in (1, 2):
        lin(f"model.encoder.conv{k}", f"encoder/conv{k}")
    out["encoder/position_encodings/encodings"] = sd["model.encoder.embed_positions.weight"]
    for side, n in (("encoder", cfg.encoder_layers), ("decoder", cfg.decoder_layers)):
        for i in range(n):
            s, d = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            fused(f"{s}.self_attn", ["q_proj", "k_proj", "v_proj"], f"{d}/self_attention/linear_0")
            lin(f"{s}.self_attn.out_proj", f"{d}/self_attention/linear_1")
            norm(f"{s}.self_attn_layer_norm", f"{d}/self_attention/layer_norm")
            if side == "decoder":
                lin(f"{s}.encoder_attn.q_proj", f"{d}/attention/linear_0")
                fused(f"{s}.encoder_attn", ["k_proj", "v_proj"], f"{d}/attention/linear_1")
                lin(f"{s}.encoder_attn.out_proj", f"{d}/attention/linear_2")
                norm(f"{s}.encoder_attn_layer_norm", f"{d}/attention/layer_norm")
            lin(f"{s}.fc1", f"{d}/ffn/linear_0")
            lin(f"{s}.fc2", f"{d}/ffn/linear_1")
            norm(f"{s}.final_layer_norm", f"{d}/ffn/layer_norm")
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
    out["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    out["decoder/position_encodings/encodings"] = sd["model.decoder.embed_positions.weight"]
    return out


def quantise(variables: dict[str, np.ndarray], storage: str) -> list[tuple[str, np.ndarray, str]]:
    """(name, array, dtype) as CTranslate2 stores them; int8/int16 quantise the 2-D weights."""
    items: list[tuple[str, np.ndarray, str]] = []
    for name, w in variables.items():
        if storage in ("int8", "int16") and w.ndim == 2 and name.endswith("weight"):
            if storage == "int8":
                amax = np.abs(w).max(axis=1)
                amax[amax == 0] = 127.0  # an all-zero row (the padding embedding), as CTranslate2
                scale = (127.0 / amax).astype(np.float32)
                q = np.clip(np.round(w * scale[:, None]), -127, 127).astype(np.int8)
            else:
                scale = np.float32(32767.0 / np.abs(w).max())
                q = np.clip(np.round(w * scale), -32767, 32767).astype(np.int16)
                scale = np.array(scale, np.float32)  # a scalar
            items += [(name, q, storage), (name + "_scale", scale, "float32")]
        elif storage in ("float16", "bfloat16"):
            items.append((name, w, storage))
        else:
            items.append((name, w, "float32"))
    # configuration scalars, as CTranslate2 writes them
    items += [("encoder/num_heads", np.array(2, np.int16), "int16"),
              ("decoder/num_heads", np.array(2, np.int16), "int16"),
              ("decoder/pre_norm", np.array(1, np.int8), "int8")]
    return items


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<H", len(b) + 1) + b + b"\0"


def write_model_bin(path: Path, items, aliases: dict[str, str], spec: str = "WhisperSpec") -> bytes:
    blob = [struct.pack("<I", 6), _string(spec), struct.pack("<I", 3), struct.pack("<I", len(items))]
    for name, arr, dtype in items:
        if dtype == "bfloat16":
            raw = (np.asarray(arr, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        blob += [_string(name), struct.pack("<B", arr.ndim),
                 b"".join(struct.pack("<I", d) for d in arr.shape),
                 struct.pack("<B", DTYPE_IDS[dtype]), struct.pack("<I", len(raw)), raw]
    blob.append(struct.pack("<I", len(aliases)))
    for a, t in aliases.items():
        blob += [_string(a), _string(t)]
    data = b"".join(blob)
    path.write_bytes(data)
    return data


def write_ct2_folder(folder: Path, model, storage: str = "float16", parts: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    items = quantise(ct2_variables(model), storage)
    data = write_model_bin(folder / "model.bin", items,
                           {"decoder/projection/weight": "decoder/embeddings/weight"})
    if parts > 1:  # split at arbitrary byte offsets (mid-variable), as the PyPI packages do
        (folder / "model.bin").unlink()
        cuts = [0] + [len(data) * k // parts + 7 for k in range(1, parts)] + [len(data)]
        for k in range(parts):
            (folder / f"model.bin.part{k + 1}").write_bytes(data[cuts[k]:cuts[k + 1]])
    (folder / "config.json").write_text(json.dumps({
        "suppress_ids": [1, 2, 7], "suppress_ids_begin": [220, 50256],
        "alignment_heads": [[1, 0]], "lang_ids": []}))
    return folder


@pytest.fixture(scope="module")
def source_model():
    return tiny_whisper(seed=1)


def _expected(w: np.ndarray, storage: str) -> tuple[np.ndarray, float]:
    """What the stored value should read back as, and the tolerance."""
    if storage == "float16":
        return w.astype(np.float16).astype(np.float32), 0.0
    if storage == "bfloat16":
        return (w.view(np.uint32) & 0xFFFF0000).view(np.float32), 0.0
    if storage == "int8" and w.ndim == 2:
        return w, float(np.abs(w).max()) / 127 * 0.6
    if storage == "int16" and w.ndim == 2:
        return w, float(np.abs(w).max()) / 32767 * 0.6
    return w, 0.0


@pytest.mark.parametrize("storage,parts", [("float32", 1), ("float16", 3), ("int8", 2),
                                           ("int16", 1), ("bfloat16", 2)])
def test_convert_round_trip(tmp_path, source_model, storage, parts):
    folder = write_ct2_folder(tmp_path / "ct2", source_model, storage, parts)
    assert len(find_parts(folder)) == parts
    out = convert(CT2Source.from_folder(folder), tmp_path / "hf")
    converted = WhisperForConditionalGeneration.from_pretrained(out, dtype=torch.float32)
    src_sd, got_sd = source_model.state_dict(), converted.state_dict()
    assert set(got_sd) == set(src_sd)
    for name, w in src_sd.items():
        want, tol = _expected(w.numpy(), storage)
        np.testing.assert_allclose(got_sd[name].numpy(), want, rtol=0, atol=tol + 1e-7,
                                   err_msg=f"{storage}: {name}")
    # the projection is tied to the embedding, as in the source
    assert converted.proj_out.weight.data_ptr() == converted.model.decoder.embed_tokens.weight.data_ptr()
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["suppress_tokens"] == [1, 2, 7] and gen["begin_suppress_tokens"] == [220, 50256]
    assert gen["decoder_start_token_id"] == 50257 and gen["no_timestamps_token_id"] == 50362
    if storage == "float32":  # exact weights: the same forward pass
        mel = torch.randn(1, 4, 12, generator=torch.Generator().manual_seed(0))
        ids = torch.tensor([[50257, 50362, 5]])
        with torch.no_grad():
            a = source_model(input_features=mel, decoder_input_ids=ids).logits
            b = converted(input_features=mel, decoder_input_ids=ids).logits
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_reader_dequantises_int8_rows_and_resolves_aliases(tmp_path):
    w = np.array([[1.0, -2.0, 0.5], [0.01, 0.02, -0.04]], np.float32)
    scale = (127.0 / np.abs(w).max(axis=1)).astype(np.float32)
    q = np.round(w * scale[:, None]).astype(np.int8)
    write_model_bin(tmp_path / "model.bin",
                    [("a/weight", q, "int8"), ("a/weight_scale", scale, "float32")],
                    {"b/weight": "a/weight"})
    m = read_ct2(tmp_path)
    assert m.spec == "WhisperSpec" and m.revision == 3
    np.testing.assert_allclose(m.weight("b/weight"), q / scale[:, None])  # alias uses a's scale
    np.testing.assert_allclose(m.weight("a/weight"), w, atol=0.02 / 127 * 0.51 + 2 / 127 * 0.51)


def test_convert_cached_converts_once_and_tracks_the_source(tmp_path, source_model, monkeypatch):
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16")
    src = CT2Source.from_folder(folder)
    first = convert_cached(src)
    assert first.is_relative_to(tmp_path / "cache")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert convert_cached(CT2Source.from_folder(folder)) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again
    st = (folder / "model.bin").stat()
    os.utime(folder / "model.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert convert_cached(CT2Source.from_folder(folder)) == first  # touched, same bytes
    write_ct2_folder(folder, tiny_whisper(seed=2), "float16")   # same size, other weights
    assert (folder / "model.bin").stat().st_size == st.st_size
    assert convert_cached(CT2Source.from_folder(folder)) != first  # a changed source: new copy
    assert not [p for p in (tmp_path / "cache" / "ct2-hf").iterdir() if p.name.startswith(".")]


def test_truncated_file_is_an_error_naming_it(tmp_path, source_model):
    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16")
    data = (folder / "model.bin").read_bytes()
    (folder / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model\.bin.*truncated"):
        read_ct2(folder)


def test_corrupt_file_is_an_error_naming_it(tmp_path, source_model):
    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float32")
    (folder / "model.bin").write_bytes(b"PK\x03\x04 this is a zip file, not a model" * 10)
    with pytest.raises(ModelFileError, match=r"model\.bin.*not a CTranslate2 model"):
        read_ct2(folder)
    data = bytearray(write_model_bin(folder / "model.bin", quantise(
        ct2_variables(source_model), "float32"), {}))
    data[-5] ^= 0xFF  # trailing garbage after a complete model
    (folder / "model.bin").write_bytes(bytes(data) + b"extra")
    with pytest.raises(ModelFileError, match=r"model\.bin.*(unexpected bytes|corrupt)"):
        read_ct2(folder)


def test_missing_part_is_an_error(tmp_path, source_model):
    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16", parts=3)
    (folder / "model.bin.part2").unlink()
    with pytest.raises(ModelFileError, match=r"part\(s\) \[2\] missing"):
        read_ct2(folder)
    (folder / "model.bin.part3").unlink()  # only part1 left: it ends mid-model
    with pytest.raises(ModelFileError, match=r"model\.bin\.part1.*truncated.*part missing"):
        read_ct2(folder)
    with pytest.raises(ModelFileError, match="model part is missing"):
        read_ct2([folder / "model.bin.part1", folder / "model.bin.part2"])


def test_wrong_spec_is_an_error(tmp_path):
    write_model_bin(tmp_path / "model.bin", [("x", np.zeros(3, np.float32), "float32")], {},
                    spec="TransformerSpec")
    with pytest.raises(ModelFileError, match="TransformerSpec.*expected 'WhisperSpec'"):
        read_ct2(tmp_path, expected_spec="WhisperSpec")
    with pytest.raises(ModelFileError, match="no such CTranslate2 model"):
        read_ct2(tmp_path / "elsewhere")


def test_config_json_nulls_and_non_objects(tmp_path, source_model):
    """CTranslate2's converter writes "suppress_ids": null for a model without suppress_tokens:
    that is no suppression (it was TypeError: 'NoneType' object is not iterable). A config.json
    holding something other than an object, or ids that are not a list, is a ModelFileError."""
    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16")
    (folder / "config.json").write_text(json.dumps({"suppress_ids": None,
                                                    "suppress_ids_begin": None}))
    out = convert(CT2Source.from_folder(folder), tmp_path / "hf")
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["begin_suppress_tokens"] == [220, 50256] and not gen.get("suppress_tokens")
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match=r"config\.json: not a CTranslate2 config.*list"):
        convert(CT2Source.from_folder(folder), tmp_path / "hf2")
    (folder / "config.json").write_text(json.dumps({"suppress_ids": "1 2"}))
    with pytest.raises(ModelFileError, match=r"config\.json: suppress_ids = '1 2', expected a list"):
        convert(CT2Source.from_folder(folder), tmp_path / "hf3")


def _whisper_with(seed: int = 1, **changes) -> WhisperForConditionalGeneration:
    model = tiny_whisper(seed)
    cfg = model.config
    for k, v in changes.items():
        setattr(cfg, k, v)
    torch.manual_seed(seed)
    return WhisperForConditionalGeneration(cfg).eval()


def test_a_gap_in_the_layers_is_an_error_not_a_shorter_model(tmp_path):
    """decoder/layer_1 missing of three: the layer count stopped at 1 and the converted model
    silently had a one-layer decoder (layer 2 dropped)."""
    items = [x for x in quantise(ct2_variables(_whisper_with(decoder_layers=3)), "float32")
             if not x[0].startswith("decoder/layer_1/")]
    write_model_bin(tmp_path / "model.bin", items, {})
    with pytest.raises(ModelFileError, match=r"decoder/layer_1/ffn/linear_0/weight is missing "
                                             r"while decoder/layer_2 is stored"):
        convert(CT2Source.from_folder(tmp_path), tmp_path / "hf")


def test_weights_that_disagree_in_shape_name_the_weight(tmp_path, source_model):
    """One layer's fc1 with other rows than layer 0's: the converted copy was written and cached,
    then from_pretrained failed with transformers' 'look at the above report' (no report shown)
    naming the cache folder, not the model.bin."""
    items = [(n, a[:12] if n == "encoder/layer_1/ffn/linear_0/weight" else a, d)
             for n, a, d in quantise(ct2_variables(source_model), "float32")]
    write_model_bin(tmp_path / "model.bin", items, {})
    with pytest.raises(ModelFileError, match=r"model\.bin: inconsistent weights: "
                                             r"model\.encoder\.layers\.1\.fc1\.weight .* \(12, 8\)"
                                             r".* need \(16, 8\)"):
        convert(CT2Source.from_folder(tmp_path), tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_unknown_revision_and_vocabulary_are_model_file_errors(tmp_path, source_model):
    """CTranslate2 refuses a WhisperSpec revision above 3 (its layout may differ): we read it as
    revision 3. A vocabulary that is not Whisper's was ValueError (exit 70)."""
    items = quantise(ct2_variables(source_model), "float32")
    data = bytearray(write_model_bin(tmp_path / "model.bin", items, {}))
    rev_at = 4 + 2 + len("WhisperSpec") + 1
    data[rev_at:rev_at + 4] = struct.pack("<I", 4)
    (tmp_path / "model.bin").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="WhisperSpec revision 4, newer than revision 3"):
        convert(CT2Source.from_folder(tmp_path), tmp_path / "hf")
    write_model_bin(tmp_path / "model.bin",
                    quantise(ct2_variables(_whisper_with(vocab_size=51870)), "float16"), {})
    with pytest.raises(ModelFileError, match="has 51870 tokens, not a Whisper vocabulary"):
        convert(CT2Source.from_folder(tmp_path), tmp_path / "hf")


def test_a_cache_that_cannot_be_written_is_an_output_error(tmp_path, source_model, monkeypatch):
    """$SPEECHBUDGET_CACHE pointing at a file (or below one) was NotADirectoryError (exit 70);
    now OutputError (exit 6) naming the cache. A cache holding the converted copy is only read."""
    from speechbudget.errors import EXIT_OUTPUT, OutputError

    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16")
    (tmp_path / "a-file").write_text("x")
    for cache in (tmp_path / "a-file", tmp_path / "a-file" / "below"):
        monkeypatch.setenv("SPEECHBUDGET_CACHE", str(cache))
        with pytest.raises(OutputError, match=r"model cache \(\$SPEECHBUDGET_CACHE\) .*a-file") as e:
            convert_cached(CT2Source.from_folder(folder))
        assert e.value.exit_code == EXIT_OUTPUT
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    first = convert_cached(CT2Source.from_folder(folder))
    monkeypatch.setattr("speechbudget.models.ct2_to_hf.make_output_dir",
                        lambda *a: pytest.fail("a converted copy needs no writable cache"))
    assert convert_cached(CT2Source.from_folder(folder)) == first


def test_part_numbering_errors_say_what_is_wrong(tmp_path, source_model):
    """model.bin.part0 + .part1 said 'part(s) [] missing'; a folder with only model.bin.part2
    was taken for a Hugging Face folder ('no file named model.safetensors ... Pass a local
    folder')."""
    from speechbudget.models.load_error import ModelLoadError
    from speechbudget.models.loading import load_whisper

    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16", parts=2)
    (folder / "model.bin.part1").rename(folder / "model.bin.part0")
    with pytest.raises(ModelFileError, match=r"parts \[0, 2\] found; they are numbered "
                                             r"model\.bin\.part1, \.part2"):
        find_parts(folder)
    (folder / "model.bin.part0").unlink()
    (folder / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelFileError, match=r"parts \[2\] found; part\(s\) \[1\] missing"):
        load_whisper(str(folder))
    (folder / "model.bin.part2").unlink()   # config.json only: no advice to pass a local folder
    with pytest.raises(ModelLoadError) as e:
        load_whisper(str(folder))
    assert str(folder) in str(e.value) and "Pass a local folder" not in str(e.value)


def test_a_replaced_tokenizer_gives_a_new_copy_and_the_old_one_goes(tmp_path, source_model,
                                                                     monkeypatch):
    """The cache key held the parts and config.json only: a tokenizer.json replaced in the source
    folder (as the tokenizer-mismatch error asks) kept serving the old one from the cache. And a
    copy superseded by a changed source stayed on disk for good (one per package reinstall)."""
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    folder = write_ct2_folder(tmp_path / "ct2", source_model, "float16")
    other = write_ct2_folder(tmp_path / "elsewhere" / "ct2", source_model, "float16")
    (folder / "tokenizer.json").write_text('{"old": 1}')
    first = convert_cached(CT2Source.from_folder(folder))
    kept = convert_cached(CT2Source.from_folder(other))   # same name, other source files
    (folder / "tokenizer.json").write_text('{"new": 2}')
    second = convert_cached(CT2Source.from_folder(folder))
    assert second != first and (second / "tokenizer.json").read_text() == '{"new": 2}'
    assert not first.exists() and kept.exists()
