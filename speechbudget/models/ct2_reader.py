"""Read a CTranslate2 `model.bin` (or its parts model.bin.part1, .part2, ...) into numpy arrays.

The layout (ctranslate2/specs/model_spec.py, `_serialize`), all little-endian:

    uint32 binary version | string spec name | uint32 spec revision | uint32 variable count
    per variable: string name | uint8 rank | uint32 x rank dims | uint8 dtype | uint32 nbytes | bytes
    uint32 alias count | per alias: string alias | string target
    string = uint16 length (with the NUL) | utf-8 bytes | NUL
    dtype  = index into (float32, int8, int16, int32, float16, bfloat16)

Quantised weights: int8 has a float32 per-output-row `<name>_scale` (= 127 / amax of the row) and
w = q / scale[:, None]; int16 has one scalar scale. An aliased weight uses its target's scale.
A model split into parts is read as one stream, part after part, without joining them on disk.
"""
from __future__ import annotations

from speechbudget.errors import EXIT_MODEL, SpeechbudgetError

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
SUPPORTED_BINARY_VERSIONS = (3, 4, 5, 6)


class ModelFileError(SpeechbudgetError, ValueError):
    """A model file that cannot be used: the message names the file and what is wrong."""

    exit_code = EXIT_MODEL


class _Parts:
    """Read-only byte stream over one or more files read in order (model.bin.part1, .part2...)."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)
        self.sizes = [p.stat().st_size for p in self.paths]
        self._i = 0
        self._f: BinaryIO | None = open(self.paths[0], "rb")
        self.offset = 0  # position in the whole stream

    @property
    def name(self) -> str:
        return " + ".join(str(p) for p in self.paths) if len(self.paths) > 1 else str(self.paths[0])

    @property
    def total(self) -> int:
        return sum(self.sizes)

    def read(self, n: int) -> bytes:
        chunks = []
        need = n
        while need > 0 and self._f is not None:
            b = self._f.read(need)
            chunks.append(b)
            need -= len(b)
            if need > 0:  # this part is exhausted: go on with the next one
                self._f.close()
                self._i += 1
                self._f = open(self.paths[self._i], "rb") if self._i < len(self.paths) else None
        data = b"".join(chunks)
        self.offset += len(data)
        return data

    def skip(self, n: int) -> int:
        """Move `n` bytes on without reading them (seeks, across parts); the bytes skipped, fewer
        than `n` at the end of the stream."""
        n = min(n, self.total - self.offset)
        self.offset += n
        start = 0
        for i, size in enumerate(self.sizes):  # the part holding the new offset, and where in it
            if self.offset < start + size or i == len(self.sizes) - 1:
                break
            start += size
        if self._f is not None and i != self._i:
            self._f.close()
            self._f = open(self.paths[i], "rb")
        self._i = i
        if self._f is not None:
            self._f.seek(self.offset - start)
        return n

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> "_Parts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class CT2Model:
    """The raw contents of a model.bin: stored arrays, aliases, spec name and revision."""

    spec: str
    revision: int
    binary_version: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def resolve(self, name: str) -> str:
        seen = set()
        while name in self.aliases:
            if name in seen:
                raise ModelFileError(f"{self.source}: alias cycle at {name!r}")
            seen.add(name)
            name = self.aliases[name]
        return name

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) in self.variables

    def raw(self, name: str) -> np.ndarray:
        target = self.resolve(name)
        if target not in self.variables:
            raise ModelFileError(f"{self.source}: variable {name!r} is missing")
        return self.variables[target]

    def weight(self, name: str) -> np.ndarray:
        """The variable as float32, de-quantised with its `_scale` when stored as int8/int16."""
        target = self.resolve(name)
        q = self.raw(name)
        if q.dtype in (np.int8, np.int16):
            scale_name = target + "_scale"
            if scale_name not in self.variables:
                raise ModelFileError(f"{self.source}: {q.dtype} variable {target!r} has no "
                                     f"{scale_name!r}")
            scale = self.variables[scale_name].astype(np.float32)
            w = q.astype(np.float32)
            if scale.size == 1:
                return w / scale.reshape(())
            if q.ndim < 1 or scale.shape[0] != q.shape[0]:
                raise ModelFileError(f"{self.source}: {scale_name!r} has shape {scale.shape}, "
                                     f"expected one scale per row of {q.shape}")
            return w / scale.reshape((-1,) + (1,) * (q.ndim - 1))
        if q.dtype == np.int32:
            return q
        return q.astype(np.float32)


def find_parts(path: str | Path) -> list[Path]:
    """The files holding a model: `path` itself (model.bin), or model.bin.part1, .part2, ... for a
    model.bin that is split; `path` may be the model folder. Raises ModelFileError if none/gaps."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if path.is_file():
        return [path]
    parts = sorted(path.parent.glob(path.name + ".part*"),
                   key=lambda p: int(p.name.rsplit(".part", 1)[1])
                   if p.name.rsplit(".part", 1)[1].isdigit() else -1)
    parts = [p for p in parts if p.name.rsplit(".part", 1)[1].isdigit()]
    if not parts:
        raise ModelFileError(f"{path}: no such CTranslate2 model file (nor {path.name}.part1, ...)")
    numbers = [int(p.name.rsplit(".part", 1)[1]) for p in parts]
    expected = list(range(1, len(parts) + 1))
    if numbers[0] < 1 or len(set(numbers)) != len(numbers):
        raise ModelFileError(f"{path}: model parts {numbers} found; they are numbered "
                             f"{path.name}.part1, .part2, ... (each number once)")
    if numbers != expected:
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        raise ModelFileError(f"{path}: model parts {numbers} found; part(s) {missing} missing")
    return parts


def read_ct2(paths: str | Path | Sequence[str | Path], expected_spec: str | None = None
             ) -> CT2Model:
    """Parse a CTranslate2 model.bin (a file, a model folder, or an ordered list of part files).

    Raises ModelFileError naming the file for a truncated or corrupt file, a missing part, or a
    spec other than `expected_spec`."""
    return _parse(paths, expected_spec, load=True)


def check_ct2(paths: str | Path | Sequence[str | Path], expected_spec: str | None = None) -> None:
    """Check a CTranslate2 model.bin (or its parts) without reading its weights: walk the header,
    seeking over each variable's bytes, and check that the file ends where the alias table does.
    Raises ModelFileError as read_ct2 does for a truncated file (or one with bytes appended), a
    corrupt header, or a missing part; a change inside the weights' bytes is not seen."""
    _parse(paths, expected_spec, load=False)


def _parse(paths: str | Path | Sequence[str | Path], expected_spec: str | None, load: bool
           ) -> CT2Model:
    if isinstance(paths, (str, Path)):
        files = find_parts(paths)
    else:
        files = [Path(p) for p in paths]
        for p in files:
            if not p.is_file():
                raise ModelFileError(f"{p}: model part is missing")
    with _Parts(files) as s:
        src = s.name

        def truncated(what: str, n: int, got: int) -> ModelFileError:
            return ModelFileError(
                f"{src}: truncated: the file ends at byte {s.offset} while reading {what} "
                f"({n} bytes wanted, {got} left)"
                + ("" if len(files) > 1 or files[0].name == "model.bin" else
                   "; is a model part missing?"))

        def take(n: int, what: str) -> bytes:
            b = s.read(n)
            if len(b) != n:
                raise truncated(what, n, len(b))
            return b

        def u(fmt: str, what: str) -> int:
            return struct.unpack("<" + fmt, take(struct.calcsize(fmt), what))[0]

        def string(what: str) -> str:
            n = u("H", what)
            if n == 0 or n > 4096:
                raise ModelFileError(f"{src}: corrupt at byte {s.offset}: {what} has length {n}")
            b = take(n, what)
            if b[-1] != 0:
                raise ModelFileError(f"{src}: corrupt at byte {s.offset}: {what} is not "
                                     "NUL-terminated")
            try:
                return b[:-1].decode("utf-8")
            except UnicodeDecodeError as e:
                raise ModelFileError(f"{src}: corrupt at byte {s.offset}: {what} is not "
                                     "utf-8") from e

        version = u("I", "the binary version")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ModelFileError(f"{src}: not a CTranslate2 model.bin (binary version {version}, "
                                 f"expected one of {SUPPORTED_BINARY_VERSIONS})")
        spec = string("the spec name") if version >= 2 else ""
        if expected_spec is not None and spec != expected_spec:
            raise ModelFileError(f"{src}: holds a {spec!r} model, expected {expected_spec!r}")
        revision = u("I", "the spec revision") if version >= 2 else 1
        count = u("I", "the variable count")
        if count > 1_000_000:
            raise ModelFileError(f"{src}: corrupt header: {count} variables")
        variables: dict[str, np.ndarray] = {}
        names: set[str] = set()
        for i in range(count):
            name = string(f"the name of variable {i}")
            rank = u("B", f"the rank of {name!r}")
            if rank > 8:
                raise ModelFileError(f"{src}: corrupt: variable {name!r} has rank {rank}")
            shape = tuple(u("I", f"the shape of {name!r}") for _ in range(rank))
            type_id = u("B", f"the dtype of {name!r}")
            if type_id >= len(DTYPES):
                raise ModelFileError(f"{src}: corrupt: variable {name!r} has dtype id {type_id}")
            dtype = DTYPES[type_id]
            nbytes = u("I", f"the size of {name!r}")
            itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
            if nbytes != int(np.prod(shape, dtype=np.int64)) * itemsize:
                raise ModelFileError(f"{src}: corrupt: variable {name!r} of shape {shape} "
                                     f"{dtype} claims {nbytes} bytes")
            names.add(name)
            if not load:
                got = s.skip(nbytes)
                if got != nbytes:
                    raise truncated(f"the data of {name!r}", nbytes, got)
                continue
            data = take(nbytes, f"the data of {name!r}")
            if dtype == "bfloat16":  # numpy has no bfloat16: widen to float32 bit patterns
                bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
                arr = bits.view(np.float32).reshape(shape)
            else:
                arr = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
            variables[name] = arr
        aliases: dict[str, str] = {}
        n_alias = u("I", "the alias count")
        if n_alias > 1_000_000:
            raise ModelFileError(f"{src}: corrupt: {n_alias} aliases")
        for i in range(n_alias):
            alias = string(f"alias {i}")
            aliases[alias] = string(f"the target of alias {alias!r}")
        if s.offset != s.total:
            raise ModelFileError(f"{src}: corrupt: {s.total - s.offset} unexpected bytes after "
                                 "the alias table")
    model = CT2Model(spec, revision, version, variables, aliases, source=src)
    for alias, target in aliases.items():
        if model.resolve(target) not in names:
            raise ModelFileError(f"{src}: alias {alias!r} points to missing variable {target!r}")
    return model
