"""TensorRT engine cache: when may a serialized engine on disk be loaded?

A TensorRT engine is only valid for the exact network, TensorRT version, GPU
model / compute capability and precision it was built for. Loading one built
for anything else fails at best and misbehaves at worst, so every engine file
gets a JSON *sidecar* (``<engine>.json``) holding the key it was built for and
the SHA-256 of the engine bytes:

    {"format": 1, "key": {"bundle_hash": ..., "onnx_sha256": ..., "tensorrt_version": "10.3.0",
     "gpu_name": "Orin", "compute_capability": "8.7", "precision": "fp16", "state_layout": ""},
     "engine_sha256": ..., "engine_bytes": ..., "created_utc": ...}

:func:`check_engine` compares the sidecar with the key wanted now and says
``ok``, ``missing``, ``stale`` (other network / TensorRT / precision),
``foreign`` (built on another GPU), or ``corrupt`` (no / unreadable sidecar,
or bytes that do not match the recorded hash, e.g. a half-copied file). Only
``ok`` may be loaded; everything else is rebuilt with a log line saying why.

Files are written atomically (:func:`atomic_write_bytes`: temp file in the same
directory + fsync + ``os.replace``), engine first, sidecar second: a crash
between the two leaves an engine whose hash does not match the old sidecar,
which reads as ``corrupt`` and is rebuilt. Nothing here imports TensorRT.

Trust. A sidecar only proves that an engine matches *itself*: anyone who can
write the cache directory can put a different engine (or ONNX) there with a
matching sidecar. So (1) cache directories are private: :func:`ensure_private_dir`
creates them 0700 and refuses one that is group- or world-writable or owned by
another user; (2) every file this process writes into a cache is recorded in the
directory's trust index (``trusted.json``, 0600), under the cache key it was built
for, with its SHA-256; a cached file is used only when its bytes match the digest
recorded for the key wanted now (:func:`trusted_digest_matches`), else it is
rebuilt with a warning. ``engine_file_path`` follows the same rule: its directory
must be owned by the user (or root, for read-only prebuilt engines) and not be
writable by group or others, else the engine is neither written nor loaded
(:func:`check_engine_location`).

Parameter names follow Isaac ROS (``isaac_ros_tensor_rt`` / GXF TensorRtInference).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Optional

from seld_ros.digests import file_sha256  # noqa: F401  (re-exported: engine users call it from here)

log = logging.getLogger(__name__)

SIDECAR_FORMAT = 1
DEFAULT_WORKSPACE_BYTES = 1 << 30  # 1 GiB: ample for a small network; Jetson shares it with the CPU


@dataclass
class EngineParams:
    """Engine parameters, named as in Isaac ROS' TensorRT node."""

    model_file_path: str = ""           # ONNX the engine is built from
    engine_file_path: str = ""          # where the serialized engine (plan) lives
    force_engine_update: bool = False   # rebuild even if the cached engine matches
    enable_fp16: bool = True            # FP16 kernels allowed (Jetson: ~2x faster, tolerance ~1e-2)
    max_workspace_size: int = DEFAULT_WORKSPACE_BYTES  # builder workspace pool, bytes

    @property
    def precision(self) -> str:
        return "fp16" if self.enable_fp16 else "fp32"


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on. Equal keys = interchangeable engines."""

    bundle_hash: str            # model bundle (weights + config); ONNX hash if built from a bare ONNX
    onnx_sha256: str            # the exact graph TensorRT parsed (fixes block length, opset, ...)
    tensorrt_version: str
    gpu_name: str
    compute_capability: str     # "8.7" (Orin), "9.0" (H100), ...
    precision: str              # "fp32" | "fp16"
    state_layout: str = ""      # state I/O of a stateful step graph (seld_ros.engine.incremental); '' = none

    HARDWARE_FIELDS = ("gpu_name", "compute_capability")

    def as_dict(self) -> Dict[str, str]:
        return asdict(self)

    def diff(self, other: "EngineKey") -> Dict[str, tuple]:
        """{field: (self value, other value)} for fields that differ."""
        a, b = self.as_dict(), other.as_dict()
        return {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}


def compute_key(*, bundle_hash: Optional[str], onnx_path: str, tensorrt_version: str, gpu_name: str,
                compute_capability, precision: str, state_layout: str = "") -> EngineKey:
    """Build the cache key. ``compute_capability`` may be "8.7" or a (major, minor) tuple."""
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"TensorRT engine precision must be fp32 or fp16, got {precision!r}")
    if isinstance(compute_capability, (tuple, list)):
        compute_capability = ".".join(str(int(x)) for x in compute_capability)
    onnx_hash = file_sha256(onnx_path)
    return EngineKey(bundle_hash=bundle_hash or f"onnx:{onnx_hash}", onnx_sha256=onnx_hash,
                     tensorrt_version=str(tensorrt_version), gpu_name=str(gpu_name).strip(),
                     compute_capability=str(compute_capability), precision=precision,
                     state_layout=str(state_layout or ""))


def sidecar_path(engine_file_path: str) -> str:
    return engine_file_path + ".json"


# -- atomic writes --------------------------------------------------------------------------------

def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never half.

    Temp file in the destination directory (same filesystem, so ``os.replace`` is an atomic rename),
    flush + fsync, rename, then fsync the directory so the rename itself survives a power cut.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(memoryview(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


# -- trust: private directories and a digest index ---------------------------------------------------

TRUST_INDEX = "trusted.json"


class CacheTrustError(OSError):
    """A cache location that others could write (the message says why and how to fix it)."""


def _check_dir_stat(path: str, allow_root: bool) -> None:
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise CacheTrustError(f"cache location {path} is not a directory")
    owners = (os.getuid(), 0) if allow_root else (os.getuid(),)
    if st.st_uid not in owners:
        raise CacheTrustError(f"cache directory {path} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}): "
                              "model files there cannot be trusted; use a directory of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheTrustError(f"cache directory {path} is writable by group or others (mode "
                              f"{stat.S_IMODE(st.st_mode):04o}): model files there cannot be trusted; "
                              f"run `chmod 700 {path}` or use another directory")


def ensure_private_dir(path: str) -> str:
    """Create ``path`` (mode 0700) if missing; refuse it (CacheTrustError) when another user owns it or group/others
    may write it. Returns the absolute path."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(path):
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:  # created meanwhile by another process: checked below
            pass
        else:
            os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
    _check_dir_stat(path, allow_root=False)
    return path


def check_engine_location(engine_file_path: str, for_write: bool) -> None:
    """The rule for ``engine_file_path``: its directory must not be writable by group/others and must be owned by
    you (or by root when only reading a prebuilt engine); a missing directory is created private. An existing engine
    file must be a regular file owned by you (or root, read-only use). Raises CacheTrustError otherwise."""
    path = os.path.abspath(os.path.expanduser(engine_file_path))
    directory = os.path.dirname(path)
    if not os.path.exists(directory):
        ensure_private_dir(directory)
        return
    _check_dir_stat(directory, allow_root=not for_write)
    if os.path.lexists(path):
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CacheTrustError(f"engine_file_path {path} exists and is not a regular file (a symlink?): refused")
        if st.st_uid not in ((os.getuid(), 0) if not for_write else (os.getuid(),)):
            raise CacheTrustError(f"engine_file_path {path} is owned by uid {st.st_uid}, not by you: refused")


def _index_path(directory: str) -> str:
    return os.path.join(directory, TRUST_INDEX)


def _read_index(directory: str) -> dict:
    try:
        with open(_index_path(directory), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record_trusted_digest(directory: str, key: str, path: str, sha256: Optional[str] = None) -> str:
    """Record that ``path`` (in ``directory``) was written by us for cache ``key``; returns its SHA-256."""
    digest = sha256 or file_sha256(path)
    index = _read_index(directory)
    index[key] = {"file": os.path.basename(path), "sha256": digest,
                  "recorded_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(_index_path(directory), index)
    try:
        os.chmod(_index_path(directory), 0o600)
    except OSError:  # pragma: no cover
        pass
    return digest


def trusted_digest_matches(directory: str, key: str, path: str) -> tuple:
    """(ok, reason): were ``path``'s bytes recorded in the trust index for ``key``?"""
    entry = _read_index(directory).get(key)
    if not isinstance(entry, dict) or entry.get("file") != os.path.basename(path):
        return False, f"no digest recorded for {os.path.basename(path)} under this cache key (not written here)"
    if not os.path.isfile(path):
        return False, f"{path} is missing"
    if file_sha256(path) != entry.get("sha256"):
        return False, (f"{os.path.basename(path)} does not match the digest recorded when it was written for this "
                       "key (replaced since)")
    return True, "digest matches"


def key_id(key: "EngineKey") -> str:
    """Stable id of an engine key, for the trust index."""
    return "engine:" + hashlib.sha256(json.dumps(key.as_dict(), sort_keys=True).encode()).hexdigest()[:32]


# -- cache check ----------------------------------------------------------------------------------

@dataclass
class CacheCheck:
    status: str                  # ok | missing | stale | foreign | corrupt | untrusted | forced
    reason: str
    diff: Dict[str, tuple] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def write_engine(engine_file_path: str, engine_bytes: bytes, key: EngineKey, extra: Optional[dict] = None) -> None:
    """Write engine then sidecar, both atomically."""
    engine_bytes = bytes(engine_bytes)
    atomic_write_bytes(engine_file_path, engine_bytes)
    meta = {
        "format": SIDECAR_FORMAT,
        "key": key.as_dict(),
        "engine_sha256": hashlib.sha256(engine_bytes).hexdigest(),
        "engine_bytes": len(engine_bytes),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if extra:
        meta["extra"] = extra
    atomic_write_json(sidecar_path(engine_file_path), meta)


def read_sidecar(engine_file_path: str) -> dict:
    """The sidecar as a dict; raises ValueError with the reason when absent or malformed."""
    path = sidecar_path(engine_file_path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"no sidecar {path} (engine of unknown provenance)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable sidecar {path}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT or not isinstance(meta.get("key"), dict):
        raise ValueError(f"sidecar {path} has an unknown format")
    return meta


def check_engine(engine_file_path: str, key: EngineKey, verify_hash: bool = True) -> CacheCheck:
    """May ``engine_file_path`` be loaded for ``key``? Never raises for bad files: it reports them."""
    if not os.path.isfile(engine_file_path):
        return CacheCheck("missing", f"no engine at {engine_file_path}")
    try:
        meta = read_sidecar(engine_file_path)
    except ValueError as e:
        return CacheCheck("corrupt", str(e))
    try:
        cached = EngineKey(**{k: meta["key"].get(k, "" if k == "state_layout" else None)
                              for k in EngineKey.__dataclass_fields__})
    except TypeError as e:  # pragma: no cover - guarded by the comprehension above
        return CacheCheck("corrupt", f"sidecar key malformed: {e}")
    diff = key.diff(cached)
    if diff:
        changes = ", ".join(f"{k}: cached {v[1]!r} != wanted {v[0]!r}" for k, v in sorted(diff.items()))
        status = "foreign" if set(diff) & set(EngineKey.HARDWARE_FIELDS) else "stale"
        return CacheCheck(status, f"engine built for another {'GPU' if status == 'foreign' else 'setup'} ({changes})",
                          diff)
    size = os.path.getsize(engine_file_path)
    if size != meta.get("engine_bytes"):
        return CacheCheck("corrupt", f"engine is {size} bytes, sidecar recorded {meta.get('engine_bytes')} "
                                     "(truncated or replaced)")
    if verify_hash and file_sha256(engine_file_path) != meta.get("engine_sha256"):
        return CacheCheck("corrupt", "engine bytes do not match the SHA-256 recorded in the sidecar")
    return CacheCheck("ok", "engine matches the wanted key")


PROGRESS_EVERY_S = 30.0  # a step that runs for minutes says it is still at work this often


@contextlib.contextmanager
def _still_working(logger: logging.Logger, what: str):
    """While the body runs (a TensorRT build: minutes on a Jetson, with no output of its own), log
    "<what>: still at work, N s so far" every PROGRESS_EVERY_S, so a user sees it has not hung."""
    done = threading.Event()
    t0 = time.monotonic()

    def tick():
        while not done.wait(PROGRESS_EVERY_S):
            logger.info("%s: still at work, %.0f s so far", what, time.monotonic() - t0)

    ticker = threading.Thread(target=tick, name="seld_progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join(timeout=1.0)


def ensure_engine(params: EngineParams, key: EngineKey, build: Callable[[], bytes],
                  logger: logging.Logger = log) -> tuple:
    """Return (engine bytes, CacheCheck of what was found) — building and caching when needed.

    ``build()`` must return the serialized engine. A rebuild is logged at WARNING with the reason.
    """
    if not params.engine_file_path:
        raise ValueError("engine_file_path is empty")
    check_engine_location(params.engine_file_path, for_write=True)
    directory = os.path.dirname(os.path.abspath(os.path.expanduser(params.engine_file_path)))
    check = check_engine(params.engine_file_path, key)
    if check.ok:
        trusted, why = trusted_digest_matches(directory, key_id(key), params.engine_file_path)
        if not trusted:
            check = CacheCheck("untrusted", why)
    if params.force_engine_update:
        check = CacheCheck("forced", "force_engine_update is set")
    if check.ok:
        with open(params.engine_file_path, "rb") as f:
            data = f.read()
        logger.info("TensorRT engine cache hit: %s (%s, TensorRT %s, %s)", params.engine_file_path,
                    key.precision, key.tensorrt_version, key.gpu_name)
        return data, check
    level = logging.INFO if check.status in ("missing", "forced") else logging.WARNING
    logger.log(level, "building TensorRT engine %s: %s [%s]; once per bundle, GPU and TensorRT version, typically "
               "1-5 min on a Jetson, under a minute on a desktop GPU", params.engine_file_path, check.reason,
               check.status)
    t0 = time.perf_counter()
    with _still_working(logger, f"building TensorRT engine {os.path.basename(params.engine_file_path)}"):
        data = bytes(build())
    record_trusted_digest(directory, key_id(key), params.engine_file_path, hashlib.sha256(data).hexdigest())
    write_engine(params.engine_file_path, data, key,
                 extra={"model_file_path": os.path.abspath(params.model_file_path) if params.model_file_path else "",
                        "max_workspace_size": params.max_workspace_size,
                        "build_seconds": round(time.perf_counter() - t0, 2)})
    logger.info("TensorRT engine written: %s (%d bytes, %.1f s)", params.engine_file_path, len(data),
                time.perf_counter() - t0)
    return data, check
