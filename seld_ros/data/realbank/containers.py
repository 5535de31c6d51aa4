"""Sound containers found in the Debian game/desktop packages, parsed in pure Python.

Every parser maps a container's bytes to ``{member name: bytes reader}``; ``open_container(path)`` picks one by
file name. A member of a container is written ``<path in package>::<member>`` in the manifest.

* zip (``.zip``, ``.pk3``, ``.wz``; 0ad ``public.zip``): the standard library's ``zipfile``.
* Qt resource bundles (``.rcc``): the "qres" format (versions 1-3). A big-endian header (magic ``qres``, version,
  offsets of the tree, data and name tables, v3: flags); the tree is an array of 14-byte (v1) or 22-byte (v2+: an
  8-byte modification time more) nodes: name offset (u32), flags (u16: 1 zlib, 2 directory, 4 zstd), then for a
  directory the child count and the index of its first child (u32 each), for a file country/language (u16 each)
  and the data offset (u32). Names are u16 length + u32 hash + UTF-16BE characters. File data is a u32 size followed
  by the bytes; zlib-compressed ones start with a u32 big-endian uncompressed size (``qCompress``).
* OpenClonk C4Group (``.ocg``): a gzip stream whose two magic bytes are 0x1E 0x8C instead of 0x1F 0x8B. Inside, a
  204-byte header ("RedWolf Design GrpFolder", version, entry count) that is scrambled (each byte XOR 0xED, then
  bytes i and i+2 swapped in every group of three), followed by 316-byte entry records (little-endian: name[260],
  packed, child-group flag, size, entry size, offset, time, has-CRC byte, CRC, executable byte, 26 bytes padding).
  Offsets count from the end of the entry table. A child group (``.ocg`` inside ``.ocg``) is stored as an
  uncompressed group with the same header; members are named ``Child.ocg/Member.wav``.
* OpenTTD ``opensfx.cat``: a table of (offset, size) u32 little-endian pairs; the first offset / 8 is the entry count.
  In this file offsets have bit 31 set: masked off. Each entry is a name (length byte, then that many bytes,
  NUL-terminated; it holds a quoted title, the author and the licence) followed by a RIFF/WAVE file. Members are
  named ``<index>_<title>.wav`` (e.g. ``29_applause.wav``).
"""
from __future__ import annotations

import gzip
import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

CONTAINER_SUFFIXES = (".zip", ".pk3", ".wz", ".rcc", ".ocg", ".cat")


class ContainerError(ValueError):
    """A container file could not be parsed."""


Members = dict  # name -> Callable[[], bytes]


# ---------------------------------------------------------------- zip
def read_zip(data_or_path) -> Members:
    src = data_or_path if isinstance(data_or_path, (str, Path)) else io.BytesIO(data_or_path)
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile as exc:
        raise ContainerError(f"not a zip file: {exc}") from None
    return {i.filename: (lambda n=i.filename: zf.read(n)) for i in zf.infolist() if not i.is_dir()}


# ---------------------------------------------------------------- Qt rcc
def read_rcc(data: bytes) -> Members:
    if data[:4] != b"qres":
        raise ContainerError("not a Qt resource bundle (no 'qres' magic)")
    version, tree_off, data_off, names_off = struct.unpack(">IIII", data[4:20])
    if version not in (1, 2, 3):
        raise ContainerError(f"unsupported rcc version {version}")
    node_size = 14 if version == 1 else 22

    def name_at(off: int) -> str:
        p = names_off + off
        (n,) = struct.unpack(">H", data[p:p + 2])
        return data[p + 6:p + 6 + 2 * n].decode("utf-16-be")

    out: Members = {}

    def file_bytes(flags: int, off: int) -> bytes:
        p = data_off + off
        (size,) = struct.unpack(">I", data[p:p + 4])
        blob = data[p + 4:p + 4 + size]
        if flags & 4:
            raise ContainerError("zstd-compressed rcc entries are not supported")
        if flags & 1:
            return zlib.decompress(blob[4:])
        return blob

    def walk(index: int, prefix: str, depth: int) -> None:
        if depth > 64:
            raise ContainerError("rcc tree too deep (corrupt?)")
        p = tree_off + index * node_size
        if p + 14 > len(data):
            raise ContainerError("rcc tree node out of range")
        name_off, flags = struct.unpack(">IH", data[p:p + 6])
        name = "" if index == 0 else name_at(name_off)
        path = f"{prefix}/{name}" if prefix else name
        if flags & 2:
            count, first = struct.unpack(">II", data[p + 6:p + 14])
            for child in range(first, first + count):
                walk(child, path, depth + 1)
        else:
            (off,) = struct.unpack(">I", data[p + 10:p + 14])
            out[path] = lambda f=flags, o=off: file_bytes(f, o)

    walk(0, "", 0)
    return out


# ---------------------------------------------------------------- OpenClonk C4Group
C4_MAGIC = b"\x1e\x8c"
C4_HEADER_SIZE, C4_ENTRY_SIZE = 204, 316
C4_ID = b"RedWolf Design GrpFolder"


def c4_scramble(buf: bytes) -> bytes:
    """Inverse of ``c4_unscramble`` (XOR 0xED, then swap bytes i and i+2 in each triple)."""
    b = bytearray(x ^ 0xED for x in buf)
    for i in range(0, len(b) - 2, 3):
        b[i], b[i + 2] = b[i + 2], b[i]
    return bytes(b)


def c4_unscramble(buf: bytes) -> bytes:
    b = bytearray(buf)
    for i in range(0, len(b) - 2, 3):
        b[i], b[i + 2] = b[i + 2], b[i]
    return bytes(x ^ 0xED for x in b)


def _c4_parse(raw: bytes, prefix: str, out: Members, depth: int) -> None:
    if depth > 16:
        raise ContainerError("C4Group nesting too deep")
    head = c4_unscramble(raw[:C4_HEADER_SIZE])
    if not head.startswith(C4_ID):
        raise ContainerError("not a C4Group (header id missing after unscrambling)")
    (entries,) = struct.unpack("<i", head[36:40])
    if not 0 <= entries <= 100000:
        raise ContainerError(f"C4Group entry count {entries} is implausible")
    base = C4_HEADER_SIZE + entries * C4_ENTRY_SIZE
    for k in range(entries):
        e = raw[C4_HEADER_SIZE + k * C4_ENTRY_SIZE:C4_HEADER_SIZE + (k + 1) * C4_ENTRY_SIZE]
        if len(e) < C4_ENTRY_SIZE:
            raise ContainerError("C4Group entry table truncated")
        name = e[:260].split(b"\0", 1)[0].decode("latin-1")
        _packed, child, size, _esize, off = struct.unpack("<iiiii", e[260:280])
        body = raw[base + off:base + off + size]
        if len(body) != size:
            raise ContainerError(f"C4Group entry {name!r} runs past the end of the group")
        path = f"{prefix}{name}"
        if child:
            _c4_parse(body, path + "/", out, depth + 1)
        else:
            out[path] = lambda b=body: b


def read_c4group(data: bytes) -> Members:
    if data[:2] == C4_MAGIC:
        try:
            raw = gzip.decompress(b"\x1f\x8b" + data[2:])
        except (OSError, EOFError, zlib.error) as exc:
            raise ContainerError(f"C4Group gzip stream is corrupt: {exc}") from None
    else:
        raw = data  # an unpacked (child) group
    out: Members = {}
    _c4_parse(raw, "", out, 0)
    return out


# ---------------------------------------------------------------- OpenTTD opensfx.cat
def read_opensfx_cat(data: bytes) -> Members:
    if len(data) < 8:
        raise ContainerError("cat file too short")
    first_off = struct.unpack("<I", data[:4])[0] & 0x7FFFFFFF
    count = first_off // 8
    if count <= 0 or first_off % 8 or first_off > len(data):
        raise ContainerError("not an OpenTTD sound catalogue (bad entry table)")
    out: Members = {}
    for i in range(count):
        off, size = struct.unpack("<II", data[8 * i:8 * i + 8])
        off &= 0x7FFFFFFF
        entry = data[off:off + size]
        if len(entry) != size or size < 2:
            raise ContainerError(f"cat entry {i} runs past the end of the file")
        n = entry[0]
        name = entry[1:1 + n].split(b"\0", 1)[0].decode("latin-1")
        m = re.search(r'"([^"]*)"', name)
        title = re.sub(r"[^a-z0-9]+", "_", (m.group(1) if m else name).lower()).strip("_") or "entry"
        out[f"{i}_{title}.wav"] = lambda b=entry[1 + n:]: b
    return out


def open_container(path: str | Path) -> Members:
    """Members of a container file, chosen by its suffix."""
    path = Path(path)
    suf = path.suffix.lower()
    if suf in (".zip", ".pk3", ".wz"):
        return read_zip(path)
    data = path.read_bytes()
    if suf == ".rcc":
        return read_rcc(data)
    if suf == ".ocg":
        return read_c4group(data)
    if suf == ".cat":
        return read_opensfx_cat(data)
    raise ContainerError(f"{path.name}: unknown container type {suf!r}")


__all__ = ["CONTAINER_SUFFIXES", "ContainerError", "c4_scramble", "c4_unscramble", "open_container", "read_c4group",
           "read_opensfx_cat", "read_rcc", "read_zip"]
