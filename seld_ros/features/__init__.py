"""Feature front ends (numpy only): FOA spatial features, omni log-mel, stereo features, normalisation statistics.

Every extractor has a batch class (``compute(audio)``) and a streaming twin (``push(chunk)``) that share one
per-frame implementation; framing is causal (see ``seld_ros.features.spectral``).
"""

from seld_ros.features.config import (
    FEATURE_SETS,
    FRONT_ENDS,
    FeatureConfig,
    FeatureConfigError,
    LogMelConfig,
    StereoFeatureConfig,
    feature_config_from_dict,
    front_end_of,
)
from seld_ros.features.foa import FoaFeatures, StreamingFoaFeatures
from seld_ros.features.logmel import LogMelFeatures, StreamingLogMelFeatures
from seld_ros.features.spectral import FrameFeatureExtractor, StreamingExtractor, mel_filterbank, periodic_hann
from seld_ros.features.stats import FeatureStats, FeatureStatsError
from seld_ros.features.stereo import StereoFeatures, StreamingStereoFeatures


def make_extractor(config):
    """Batch extractor for a SELD feature config (``FeatureConfig`` -> FOA, ``StereoFeatureConfig`` -> stereo)."""
    return StereoFeatures(config) if isinstance(config, StereoFeatureConfig) else FoaFeatures(config)


def make_streaming_extractor(config):
    """Streaming twin of :func:`make_extractor`."""
    return StreamingStereoFeatures(config) if isinstance(config, StereoFeatureConfig) else StreamingFoaFeatures(config)

__all__ = [
    "FEATURE_SETS",
    "FRONT_ENDS",
    "FeatureConfig",
    "FeatureConfigError",
    "FeatureStats",
    "FeatureStatsError",
    "FoaFeatures",
    "FrameFeatureExtractor",
    "LogMelConfig",
    "LogMelFeatures",
    "StereoFeatureConfig",
    "StereoFeatures",
    "StreamingExtractor",
    "StreamingFoaFeatures",
    "StreamingLogMelFeatures",
    "StreamingStereoFeatures",
    "feature_config_from_dict",
    "front_end_of",
    "make_extractor",
    "make_streaming_extractor",
    "mel_filterbank",
    "periodic_hann",
]
