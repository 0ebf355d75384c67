"""The converted-model cache is keyed by the source files' content, not their path: every
checkout's environment installs the bundled weights at its own site-packages path, and each one
converted them again (six copies of base, 142 MB each, in one day's cache). The SHA-256 of a
source file is remembered per (path, size, mtime, ctime, inode) in the cache's digests.json, so a
warm load does not hash the weights again. The converted copy's files were hashed again on every
load to verify it (about 140 ms for tiny.en, 260 ms for base); they are remembered the same way
now, and a cached file rewritten or cut since is still found."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from speechbudget.models import ct2_to_hf, file_digest
from speechbudget.models.ct2_to_hf import DIGEST_INDEX, CT2Source, convert_cached, verify_cached
from speechbudget.models.file_digest import DigestIndex
from tests.models.test_ct2 import tiny_whisper, write_ct2_folder


@pytest.fixture(scope="module")
def model():
    return tiny_whisper(seed=3)


@pytest.fixture
def settled(monkeypatch):
    """Every file counts as changed long ago, so its stamp is recorded when it is hashed."""
    monkeypatch.setattr(file_digest, "SETTLE_NS", 0)


def _conversions(cache):
    return sorted(p.name for p in cache.iterdir() if p.is_dir())


def _hashed(monkeypatch):
    """The names of the files hashed from now on (by the index or by verify_cached)."""
    hashed = []
    real = file_digest.sha256_file

    def spy(p):
        hashed.append(os.path.basename(p))
        return real(p)
    monkeypatch.setattr(file_digest, "sha256_file", spy)
    monkeypatch.setattr(ct2_to_hf, "sha256_file", spy)
    return hashed


def test_the_same_files_at_two_paths_are_converted_once(tmp_path, model, monkeypatch):
    cache = tmp_path / "cache"
    a = write_ct2_folder(tmp_path / "venv-a" / "site-packages" / "pkg" / "model", model)
    b = tmp_path / "venv-b" / "site-packages" / "pkg" / "model"
    shutil.copytree(a, b)          # another checkout's install: new path, mtime and inode
    (a / "tokenizer.json").write_text('{"t": 1}')
    (b / "tokenizer.json").write_text('{"t": 1}')
    first = convert_cached(CT2Source.from_folder(a), cache)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    import speechbudget.models.ct2_to_hf as ct2_to_hf
    monkeypatch.setattr(ct2_to_hf, "convert", lambda *a: pytest.fail("converted again"))
    assert convert_cached(CT2Source.from_folder(b), cache) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    # under another name (a registry name for the same files): the same copy
    named = CT2Source(files=[b / "model.bin"], folder=b, name="tiny.en")
    assert convert_cached(named, cache) == first
    assert _conversions(cache) == [first.name]
    info = json.loads((first / "source.json").read_text())
    assert info["source_key"] == first.name.rsplit("-", 1)[1]


def test_a_known_unchanged_file_is_not_hashed_again(tmp_path, model, monkeypatch, settled):
    cache = tmp_path / "cache"
    folder = write_ct2_folder(tmp_path / "ct2", model)
    convert_cached(CT2Source.from_folder(folder), cache)
    index = json.loads((cache / DIGEST_INDEX).read_text())
    assert str((folder / "model.bin").resolve()) in index["files"]
    hashed = []
    real = file_digest.sha256_file
    monkeypatch.setattr(file_digest, "sha256_file", lambda p: hashed.append(p) or real(p))
    convert_cached(CT2Source.from_folder(folder), cache)
    assert not [p for p in hashed if cache not in p.parents]   # the copy's files: verified
    # replaced by other bytes of the same size with the old mtime put back (cp -p, tar): the
    # inode and ctime differ, so it is hashed and converted again
    st = (folder / "model.bin").stat()
    other = write_ct2_folder(tmp_path / "other", tiny_whisper(seed=4))
    os.replace(other / "model.bin", folder / "model.bin")
    os.utime(folder / "model.bin", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (folder / "model.bin").stat().st_size == st.st_size
    monkeypatch.setattr(file_digest, "sha256_file", real)
    assert len(_conversions(cache)) == 1
    second = convert_cached(CT2Source.from_folder(folder), cache)
    assert _conversions(cache) == [second.name]   # the superseded copy of this path is gone


def test_a_damaged_copy_reached_from_another_path_is_converted_again(tmp_path, model):
    cache = tmp_path / "cache"
    a = write_ct2_folder(tmp_path / "a" / "ct2", model)
    b = tmp_path / "b" / "ct2"
    shutil.copytree(a, b)
    first = convert_cached(CT2Source.from_folder(a), cache)
    f = first / "model.safetensors"
    good = f.read_bytes()
    f.write_bytes(good[:100])
    with pytest.warns(UserWarning, match="model cache damaged"):
        again = convert_cached(CT2Source.from_folder(b), cache)
    assert again == first and f.read_bytes() == good and verify_cached(again) is None


def test_a_read_only_cache_serves_another_path(tmp_path, model, monkeypatch):
    cache = tmp_path / "cache"
    a = write_ct2_folder(tmp_path / "a" / "ct2", model)
    b = tmp_path / "b" / "ct2"
    shutil.copytree(a, b)
    first = convert_cached(CT2Source.from_folder(a), cache)
    monkeypatch.setattr("speechbudget.models.ct2_to_hf.make_output_dir",
                        lambda *a: pytest.fail("a converted copy needs no writable cache"))
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(PermissionError(13, "ro")))
    assert convert_cached(CT2Source.from_folder(b), cache) == first


def test_a_damaged_index_is_rebuilt(tmp_path, model, settled):
    cache = tmp_path / "cache"
    folder = write_ct2_folder(tmp_path / "ct2", model)
    first = convert_cached(CT2Source.from_folder(folder), cache)
    (cache / DIGEST_INDEX).write_text("{not json")
    assert convert_cached(CT2Source.from_folder(folder), cache) == first
    assert json.loads((cache / DIGEST_INDEX).read_text())["version"] == 1


def test_a_path_keyed_conversion_of_deleted_files_is_removed(tmp_path, model):
    """Conversions made before the key was the content can never be reached again once their
    source files are gone (a deleted checkout): the next conversion removes them. Ones whose
    files still exist (an older checkout still in use) stay."""
    cache = tmp_path / "cache"
    old_gone, old_live = cache / "base-0123456789abcdef", cache / "base-fedcba9876543210"
    live = tmp_path / "live" / "model.bin"
    live.parent.mkdir()
    live.write_bytes(b"x")
    for folder, src in ((old_gone, tmp_path / "deleted" / "model.bin"), (old_live, live)):
        folder.mkdir(parents=True)
        (folder / "source.json").write_text(json.dumps({"converted_from": [str(src)]}))
    new = convert_cached(CT2Source.from_folder(write_ct2_folder(tmp_path / "ct2", model)), cache)
    assert _conversions(cache) == sorted([new.name, old_live.name])


def test_an_unchanged_cached_copy_is_not_hashed_again(tmp_path, model, monkeypatch, settled):
    cache = tmp_path / "cache"
    folder = write_ct2_folder(tmp_path / "ct2", model)
    first = convert_cached(CT2Source.from_folder(folder), cache)
    assert convert_cached(CT2Source.from_folder(folder), cache) == first   # verified: recorded
    hashed = _hashed(monkeypatch)
    assert convert_cached(CT2Source.from_folder(folder), cache) == first
    assert hashed == []
    assert str((first / "model.safetensors").resolve()) in \
        json.loads((cache / DIGEST_INDEX).read_text())["files"]


def test_a_cached_file_rewritten_with_the_same_size_is_found(tmp_path, model, monkeypatch,
                                                            settled):
    cache = tmp_path / "cache"
    folder = write_ct2_folder(tmp_path / "ct2", model)
    first = convert_cached(CT2Source.from_folder(folder), cache)
    convert_cached(CT2Source.from_folder(folder), cache)    # its stamps are recorded
    f = first / "model.safetensors"
    st, good = f.stat(), f.read_bytes()
    bad = bytearray(good)
    bad[-1] ^= 1                                            # a bit of the last weight
    f.write_bytes(bytes(bad))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert f.stat().st_size == st.st_size and f.stat().st_ino == st.st_ino
    hashed = _hashed(monkeypatch)
    with pytest.warns(UserWarning, match="model.safetensors: content differs"):
        again = convert_cached(CT2Source.from_folder(folder), cache)
    assert again == first and f.read_bytes() == good and "model.safetensors" in hashed


def test_a_cut_cached_file_is_found(tmp_path, model, settled):
    cache = tmp_path / "cache"
    folder = write_ct2_folder(tmp_path / "ct2", model)
    first = convert_cached(CT2Source.from_folder(folder), cache)
    convert_cached(CT2Source.from_folder(folder), cache)    # its stamps are recorded
    f = first / "model.safetensors"
    good = f.read_bytes()
    with f.open("r+b") as fh:                              # cut in place: the same inode
        fh.truncate(len(good) // 2)
    with pytest.warns(UserWarning, match="model.safetensors: .* bytes.*truncated"):
        again = convert_cached(CT2Source.from_folder(folder), cache)
    assert again == first and f.read_bytes() == good


def test_a_file_hashed_right_after_a_write_is_not_remembered(tmp_path, monkeypatch):
    """A write in the same timestamp tick as the hash would leave the stamp as it was ("racily
    clean" in git): such a file is hashed again next time."""
    monkeypatch.setattr(file_digest, "SETTLE_NS", 10**18)   # every file was just written
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 64)
    index = DigestIndex(tmp_path / "digests.json")
    _, first = index.digest(f)
    assert index.entries == {}
    f.write_bytes(b"b" * 64)
    assert index.digest(f)[1] != first
    monkeypatch.setattr(file_digest, "SETTLE_NS", 0)
    index.digest(f)
    assert list(index.entries) == [str(f.resolve())]
