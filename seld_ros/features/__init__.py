"""Feature front ends (numpy only): FOA spatial features, omni log-mel, stereo features, normalisation statistics.

Every extractor has a batch class (``compute(audio)``) and a streaming twin (``push(chunk)``) that share one
per-frame implementation; framing is causal (see ``seld_ros.features.spectral``).
"""

from seld_ros.features.config import (
    FEATURE_SETS,
    FeatureConfig,
    FeatureConfigError,
    LogMelConfig,
    StereoFeatureConfig,
)
from seld_ros.features.foa import FoaFeatures, StreamingFoaFeatures
from seld_ros.features.logmel import LogMelFeatures, StreamingLogMelFeatures
from seld_ros.features.spectral import FrameFeatureExtractor, StreamingExtractor, mel_filterbank, periodic_hann
from seld_ros.features.stats import FeatureStats, FeatureStatsError
from seld_ros.features.stereo import StereoFeatures, StreamingStereoFeatures

__all__ = [
    "FEATURE_SETS",
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
    "mel_filterbank",
    "periodic_hann",
]
