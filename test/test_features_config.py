"""Feature configurations: JSON round trip (they live in model bundles), derived sizes, and rejected settings."""

from __future__ import annotations

import json

import pytest

from seld_ros.features import FeatureConfig, FeatureConfigError, LogMelConfig, StereoFeatureConfig


def test_defaults_are_the_dcase_front_end():
    cfg = FeatureConfig()
    assert (cfg.sample_rate, cfg.hop_length, cfg.win_length, cfg.n_fft, cfg.n_mels) == (24000, 480, 960, 1024, 64)
    assert cfg.feature_set == "logmel+iv+phase" and cfg.num_channels == 13
    assert cfg.frames_per_label == 5 and cfg.fmax_hz == 12000.0


@pytest.mark.parametrize("cls,kwargs", [
    (FeatureConfig, {"feature_set": "logmel+iv", "n_mels": 128, "fmin": 50.0, "fmax": 11000.0}),
    (LogMelConfig, {"log_scale": "ln", "amin": 1e-5}),
    (StereoFeatureConfig, {"stpacc_lag_step": 3}),
])
def test_json_round_trip(cls, kwargs):
    cfg = cls(**kwargs)
    restored = cls.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert restored == cfg


def test_panns_preset():
    cfg = LogMelConfig.preset("panns")
    assert (cfg.sample_rate, cfg.n_mels, cfg.fmin, cfg.fmax, cfg.hop_length, cfg.win_length) == (
        32000, 64, 50.0, 14000.0, 320, 1024)
    with pytest.raises(FeatureConfigError, match="unknown log-mel preset 'vggish'"):
        LogMelConfig.preset("vggish")


@pytest.mark.parametrize("kwargs,message", [
    ({"feature_set": "logmel+phase"}, "feature_set must be one of"),
    ({"win_length": 2048}, r"win_length \(2048\) must not exceed n_fft \(1024\)"),
    ({"hop_length": 1000}, r"hop_length \(1000\) > win_length \(960\)"),
    ({"fmax": 16000.0}, "need 0 <= fmin < fmax <= sample_rate/2"),
    ({"label_hop_length": 2500}, r"label_hop_length \(2500\) must be a multiple of hop_length \(480\)"),
    ({"n_mels": 0}, "n_mels must be a positive integer"),
    ({"sample_rate": 24000.0}, "sample_rate must be a positive integer"),
])
def test_inconsistent_settings_are_rejected(kwargs, message):
    with pytest.raises(FeatureConfigError, match=message):
        FeatureConfig(**kwargs)


def test_unknown_keys_are_rejected_not_ignored():
    data = FeatureConfig().to_dict() | {"use_gammatone": True}
    with pytest.raises(FeatureConfigError, match=r"unknown keys \['use_gammatone'\]"):
        FeatureConfig.from_dict(data)


def test_other_configs_validate_their_own_fields():
    with pytest.raises(FeatureConfigError, match="log_scale must be one of"):
        LogMelConfig(log_scale="log2")
    with pytest.raises(FeatureConfigError, match="stpACC lags up to n_mels\\*stpacc_lag_step = 960"):
        StereoFeatureConfig(stpacc_lag_step=15)


def test_front_end_dispatch_keeps_foa_dicts_and_hashes_unchanged():
    from seld_ros.features import feature_config_from_dict, front_end_of, make_extractor, make_streaming_extractor
    from seld_ros.features import StereoFeatures, StreamingStereoFeatures, FoaFeatures
    foa = FeatureConfig(feature_set="logmel+iv").to_dict()
    assert "front_end" not in foa  # old bundles and feature caches keep their dicts (and hashes)
    assert front_end_of(foa) == "foa"
    assert feature_config_from_dict(foa) == FeatureConfig(feature_set="logmel+iv")
    assert feature_config_from_dict({**foa, "front_end": "foa"}) == FeatureConfig(feature_set="logmel+iv")
    st = StereoFeatureConfig().to_dict()
    assert st["front_end"] == "stereo" and front_end_of(st) == "stereo"
    cfg = feature_config_from_dict(json.loads(json.dumps(st)))
    assert isinstance(cfg, StereoFeatureConfig) and cfg.frames_per_label == 5
    assert isinstance(make_extractor(cfg), StereoFeatures)
    assert isinstance(make_streaming_extractor(cfg), StreamingStereoFeatures)
    assert isinstance(make_extractor(FeatureConfig()), FoaFeatures)
    with pytest.raises(FeatureConfigError, match="unknown front_end 'binaural'"):
        feature_config_from_dict({**st, "front_end": "binaural"})
    with pytest.raises(FeatureConfigError, match="label_hop_length"):
        StereoFeatureConfig(label_hop_length=1000)
