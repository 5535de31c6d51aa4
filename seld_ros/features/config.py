"""Feature configurations: frozen dataclasses that round-trip through plain JSON-able dicts (stored in model bundles).

All extractors use the same causal framing (see ``seld_ros.features.spectral``): frame t covers input samples
[(t+1)*hop - win, (t+1)*hop), zeros before the stream start, so N samples give N // hop frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from seld_ros.constants import FEATURE_HOP_SAMPLES, FRONT_END_CHANNELS, FRONT_ENDS, LABEL_HOP_SAMPLES, SAMPLE_RATE

FEATURE_SETS = ("logmel", "logmel+iv", "logmel+iv+phase")
FEATURE_SET_CHANNELS = {"logmel": 4, "logmel+iv": 7, "logmel+iv+phase": 13}
YAMNET_FEATURE_CHANNELS = 2  # two 10 ms YAMNet frames per 20 ms feature frame
LOG_SCALES = ("db", "ln")


class FeatureConfigError(ValueError):
    """An inconsistent or unknown feature configuration."""


class _YamnetChannels:
    """What FOA and stereo front ends share about ``yamnet``: two raw YAMNet log-mel channels of the omni signal
    (``seld_ros.features.yamnet``) after the ``spatial_channels``; only where a feature frame holds exactly two
    YAMNet frames."""

    def _check_yamnet(self) -> None:
        if not isinstance(self.yamnet, bool):
            raise FeatureConfigError(f"yamnet must be true or false, got {self.yamnet!r}")
        if self.yamnet and (self.sample_rate, self.hop_length, self.n_mels) != (SAMPLE_RATE, FEATURE_HOP_SAMPLES, 64):
            raise FeatureConfigError(
                f"yamnet: true needs the 24 kHz, 20 ms hop, 64-band front end (two 10 ms YAMNet frames of 64 bands "
                f"per feature frame), got sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
                f"n_mels={self.n_mels}")

    @property
    def num_channels(self) -> int:
        return self.spatial_channels + (YAMNET_FEATURE_CHANNELS if self.yamnet else 0)

    @property
    def yamnet_channels(self) -> tuple[int, ...]:
        """Indices of the YAMNet log-mel channels (empty without ``yamnet``)."""
        return tuple(range(self.spatial_channels, self.num_channels))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.yamnet:  # configs (bundles, cache hashes) from before the switch existed stay byte-identical
            del data["yamnet"]
        return data


def _check_stft(sample_rate: int, hop_length: int, win_length: int, n_fft: int, n_mels: int, fmin: float,
                fmax: float | None) -> None:
    for name, value in (("sample_rate", sample_rate), ("hop_length", hop_length), ("win_length", win_length),
                        ("n_fft", n_fft), ("n_mels", n_mels)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise FeatureConfigError(f"{name} must be a positive integer, got {value!r}")
    if win_length > n_fft:
        raise FeatureConfigError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
    if hop_length > win_length:
        raise FeatureConfigError(f"hop_length ({hop_length}) > win_length ({win_length}) would skip samples")
    top = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < top <= sample_rate / 2:
        raise FeatureConfigError(
            f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={fmin}, fmax={fmax}, sample_rate={sample_rate}"
        )


_Config = TypeVar("_Config")


def _from_dict(cls: type[_Config], data: dict[str, Any]) -> _Config:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise FeatureConfigError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(known)}")
    return cls(**data)


@dataclass(frozen=True)
class FeatureConfig(_YamnetChannels):
    """The FOA (AT2SELD spatial) front end. Defaults are the DCASE SELD baseline front end.

    Feature tensor channels (``num_channels``), each (T, n_mels):
      0-3   log-mel power of W, Y, Z, X (dB: 10*log10(max(P, amin)), no top_db clipping, which is not causal)
      4-6   intensity vector of Y, Z, X (ACN order), normalised per bin, mel-projected     ("logmel+iv" and up)
      7-9   cos of the phase of Y, Z, X relative to W, energy-weighted mel pooling        ("logmel+iv+phase")
      10-12 sin of the same phases
    With ``yamnet: true`` two more channels follow (``yamnet_channels``): YAMNet's own log-mel of the W channel
    (``seld_ros.features.yamnet``: 16 kHz, 10 ms hop, 64 HTK bands, ln(mel + 0.001)), YAMNet frames 2t - 1 and 2t
    in feature frame t (10 per 100 ms label frame; why 2t - 1: ``seld_ros.features.yamnet``). They are raw (never
    normalised): YAMNet expects them as they are.
    """

    sample_rate: int = SAMPLE_RATE
    hop_length: int = FEATURE_HOP_SAMPLES  # 20 ms
    win_length: int = 960  # 40 ms periodic Hann
    n_fft: int = 1024
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None  # None = sample_rate / 2
    feature_set: str = "logmel+iv+phase"
    label_hop_length: int = LABEL_HOP_SAMPLES  # 100 ms output/label frame
    amin: float = 1e-10  # power floor of the dB log-mel
    yamnet: bool = False  # append YAMNet's log-mel of W (two channels; see the class docstring)

    def __post_init__(self) -> None:
        _check_stft(self.sample_rate, self.hop_length, self.win_length, self.n_fft, self.n_mels, self.fmin, self.fmax)
        self._check_yamnet()
        if self.feature_set not in FEATURE_SETS:
            raise FeatureConfigError(f"feature_set must be one of {FEATURE_SETS}, got {self.feature_set!r}")
        if self.label_hop_length % self.hop_length:
            raise FeatureConfigError(
                f"label_hop_length ({self.label_hop_length}) must be a multiple of hop_length ({self.hop_length})"
            )

    @property
    def spatial_channels(self) -> int:
        """Channels of the spatial descriptors (the normalised ones): 4 / 7 / 13 by ``feature_set``."""
        return FEATURE_SET_CHANNELS[self.feature_set]


    @property
    def frames_per_label(self) -> int:
        """Feature frames per label frame: label frame l <-> feature frames [l*k, (l+1)*k)."""
        return self.label_hop_length // self.hop_length

    @property
    def fmax_hz(self) -> float:
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)


    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class LogMelConfig:
    """Single-channel log-mel front end, matched to a pretrained audio-tagging backbone (``preset``)."""

    sample_rate: int = 32000
    hop_length: int = 320
    win_length: int = 1024
    n_fft: int = 1024
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float | None = 14000.0
    log_scale: str = "db"  # "db": 10*log10(max(P, amin)) (PANNs); "ln": ln(P + amin)
    amin: float = 1e-10

    def __post_init__(self) -> None:
        _check_stft(self.sample_rate, self.hop_length, self.win_length, self.n_fft, self.n_mels, self.fmin, self.fmax)
        if self.log_scale not in LOG_SCALES:
            raise FeatureConfigError(f"log_scale must be one of {LOG_SCALES}, got {self.log_scale!r}")

    @classmethod
    def preset(cls, name: str) -> LogMelConfig:
        """``panns`` (CNN14 etc.: 32 kHz, 64 mels, 50-14000 Hz, hop 320, window 1024) or ``dcase`` (24 kHz front end)."""
        presets = {
            "panns": cls(),
            "dcase": cls(sample_rate=SAMPLE_RATE, hop_length=480, win_length=960, n_fft=1024, n_mels=64, fmin=0.0,
                         fmax=None),
        }
        if name not in presets:
            raise FeatureConfigError(f"unknown log-mel preset {name!r}; known: {sorted(presets)}")
        return presets[name]

    @property
    def fmax_hz(self) -> float:
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogMelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class StereoFeatureConfig(_YamnetChannels):
    """Stereo front end. Channels, each (T, n_mels) (indices: ``channel_layout``):
      0   log-mel of the mid signal L + R (dB). With DCASE 2025 virtual stereo (L, R = (W +- Y) / 2) this is the
          FOA W log-mel, so an AT backbone pretrained on channel 0 of FOA features transfers as it is;
      1-2 log-mel L, R (dB); 3 inter-channel level difference L/R per mel band (dB);
      4-5 cos/sin of the inter-channel phase difference (energy-weighted mel pooling);
      6-7 stpACC of L, R (only when ``stpacc``): 10*log10 of the squared normalised autocorrelation at ``n_mels``
          lags evenly spaced from ``stpacc_lag_step`` to ``n_mels * stpacc_lag_step`` samples (its decay tracks the
          direct-to-reverberant ratio, a distance cue).
    With ``yamnet: true`` two more channels follow (``yamnet_channels``): YAMNet's own log-mel of the mid signal
    L + R, exactly as ``FeatureConfig.yamnet`` takes it of W (same frames, same pairing; ``seld_ros.features.yamnet``).
    Why the mid: it is the stereo analogue of the omni W, the one signal with no direction in it, and with DCASE 2025
    virtual stereo (L, R = (W +- Y) / 2) it *is* W, so YAMNet hears what it hears in the FOA model and at the level
    of an omni microphone (L + R, not (L + R) / 2, for the same reason channel 0 uses it). Raw, never normalised.
    Swapping L and R maps the features onto themselves (``swap_stereo_features``): 1<->2, 6<->7, ILD and IPD-sin
    negated, mid, IPD-cos and the YAMNet channels unchanged; the source azimuth is negated.
    """

    sample_rate: int = SAMPLE_RATE
    hop_length: int = FEATURE_HOP_SAMPLES
    win_length: int = 960
    n_fft: int = 1024
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    stpacc_lag_step: int = 7  # 64 lags * 7 samples = 18.7 ms at 24 kHz
    amin: float = 1e-10
    label_hop_length: int = LABEL_HOP_SAMPLES  # 100 ms output/label frame
    front_end: str = "stereo"  # tags the dict form so ``feature_config_from_dict`` can tell it from FOA
    stpacc: bool = True  # False drops channels 6-7 (the stpACC ablation)
    yamnet: bool = False  # append YAMNet's log-mel of the mid signal (two channels; see the class docstring)

    @property
    def spatial_channels(self) -> int:
        """Channels of the stereo descriptors (the normalised ones): 8, or 6 without stpACC."""
        return 8 if self.stpacc else 6


    @property
    def channel_layout(self) -> dict[str, Any]:
        """Channel indices by role: ``mid``, ``logmel_lr`` (L, R), ``ild``, ``ipd_cos``, ``ipd_sin`` and, with
        ``stpacc``, ``stpacc_lr`` (L, R)."""
        layout: dict[str, Any] = {"mid": 0, "logmel_lr": (1, 2), "ild": 3, "ipd_cos": 4, "ipd_sin": 5}
        if self.stpacc:
            layout["stpacc_lr"] = (6, 7)
        if self.yamnet:
            layout["yamnet"] = self.yamnet_channels
        return layout

    @property
    def logmel_channels(self) -> tuple[int, ...]:
        """The channels in dB of signal power (a gain shifts them all by the same constant)."""
        return (0, 1, 2)

    def __post_init__(self) -> None:
        _check_stft(self.sample_rate, self.hop_length, self.win_length, self.n_fft, self.n_mels, self.fmin, self.fmax)
        if self.front_end != "stereo":
            raise FeatureConfigError(f"StereoFeatureConfig.front_end must be 'stereo', got {self.front_end!r}")
        if not isinstance(self.stpacc, bool):
            raise FeatureConfigError(f"stpacc must be true or false, got {self.stpacc!r}")
        self._check_yamnet()
        if self.label_hop_length % self.hop_length:
            raise FeatureConfigError(
                f"label_hop_length ({self.label_hop_length}) must be a multiple of hop_length ({self.hop_length})"
            )
        if self.stpacc_lag_step <= 0 or self.n_mels * self.stpacc_lag_step >= self.win_length:
            raise FeatureConfigError(
                f"stpACC lags up to n_mels*stpacc_lag_step = {self.n_mels * self.stpacc_lag_step} must be positive "
                f"and shorter than win_length ({self.win_length})"
            )

    @property
    def fmax_hz(self) -> float:
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)


    @property
    def frames_per_label(self) -> int:
        return self.label_hop_length // self.hop_length

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StereoFeatureConfig:
        return _from_dict(cls, data)


# The SELD front ends a model bundle may name. A bundle's ``feature_config`` dict says which one by its
# ``front_end`` key; dicts without it (every bundle before stereo models existed) are FOA.
INPUT_CHANNELS = FRONT_END_CHANNELS


def front_end_of(data: dict[str, Any]) -> str:
    """``"foa"`` or ``"stereo"``: the front end a feature-config dict (bundle or training YAML) describes."""
    kind = data.get("front_end", "foa")
    if kind not in FRONT_ENDS:
        raise FeatureConfigError(f"unknown front_end {kind!r}; known: {list(FRONT_ENDS)}")
    return kind


def feature_config_from_dict(data: dict[str, Any]) -> FeatureConfig | StereoFeatureConfig:
    """The SELD feature config a dict describes: ``StereoFeatureConfig`` when ``front_end == "stereo"``, else
    ``FeatureConfig`` (an explicit ``front_end: foa`` is accepted and dropped, so FOA dicts and hashes stay as they
    were)."""
    if front_end_of(data) == "stereo":
        return StereoFeatureConfig.from_dict(data)
    return FeatureConfig.from_dict({k: v for k, v in data.items() if k != "front_end"})
