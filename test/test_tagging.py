"""AudioSet tags through steered virtual microphones, the watch list and the direction search (seld_ros.tagging),
with the real converted YAMNet on real recordings.

Weights and recordings: see test/tagging_helpers.py (the tests FAIL without the weights). The recordings, both listed
in ../shared/real_sound_sources.md: ``phone-incoming-call.oga`` of sound-theme-freedesktop (telephone; YAMNet hears
"Alarm" / "Telephone") and ``bass_voxy_c.flac`` of sonic-pi-samples (a synthetic bass, "Music").
The scene: each recording a plane wave (ACN/SN3D, as seld_ros.audio.formats encodes one), 90 degrees apart, at equal
RMS level.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from seld_ros.data.geometry import angular_distance_deg, azel_to_xyz
from seld_ros.tagging import (DEFAULT_SAFETY_WATCH_LIST, SteeredTagger, WatchList, locate, sigmoid, steered_patches,
                              torch_yamnet)
from tagging_helpers import RATE, deb_cache, fit, mono_24k, network, plane_wave, yamnet  # noqa: F401 (fixtures)

PHONE_DIR = azel_to_xyz(30.0, 10.0)
MUSIC_DIR = azel_to_xyz(120.0, 10.0)  # 90 degrees from the phone
SCENE_S = 3.0


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    cache = deb_cache(tmp_path_factory)
    phone = cache.unpack("sound-theme-freedesktop").tree / "usr/share/sounds/freedesktop/stereo/phone-incoming-call.oga"
    music = cache.unpack("sonic-pi-samples").tree / "usr/share/sonic-pi/samples/bass_voxy_c.flac"
    n = int(SCENE_S * RATE)
    phone, music = fit(mono_24k(phone), n) * 0.05, fit(mono_24k(music), n) * 0.05  # -26 dBFS RMS each
    return {"phone": phone, "music": music,
            "scene": plane_wave(phone, PHONE_DIR) + plane_wave(music, MUSIC_DIR)}


def _top1(network, patches: np.ndarray, names) -> str:
    return names[int(np.argmax(sigmoid(network(patches)[0]).mean(axis=0)))]


# ---------------------------------------------------------------------------------------------- the watch list
def test_default_safety_list_names_exist_and_parse_names_ids_and_thresholds(yamnet):
    names, mids = yamnet[1]["class_names"], yamnet[1]["class_mids"]
    default = WatchList.default(names, mids)
    assert [e.name for e in default.entries] == [n for n, _ in DEFAULT_SAFETY_WATCH_LIST]
    assert {"Siren", "Glass", "Dog", "Baby cry, infant cry", "Screaming", "Fire alarm"} <= \
        {e.name for e in default.entries}
    wl = WatchList.parse(["Siren=0.25", "/m/07pp8cl", ("Dog", 0.6)], names, mids, default_threshold=0.35)
    assert [(e.name, e.mid, e.threshold) for e in wl.entries] == [
        ("Siren", "/m/03kmc9", 0.25), ("Telephone bell ringing", "/m/07pp8cl", 0.35), ("Dog", "/m/0bt9lr", 0.6)]
    assert names[wl.entries[2].index] == "Dog"
    assert WatchList.parse({"Bark": 0.5}, names, mids).entries[0].mid == "/m/05tny_"


def test_an_unknown_label_or_bad_threshold_is_a_clear_error(yamnet):
    names, mids = yamnet[1]["class_names"], yamnet[1]["class_mids"]
    with pytest.raises(ValueError, match=r"'Smoke alarm' is not an AudioSet.*closest AudioSet names: "
                                         r"'Smoke detector, smoke alarm'"):
        WatchList.parse(["Smoke alarm=0.3"], names, mids)
    with pytest.raises(ValueError, match="'Sirene'.*'Siren'"):
        WatchList.parse(["Sirene"], names, mids)
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        WatchList.parse(["Siren=1.5"], names, mids)
    with pytest.raises(ValueError, match="not a number"):
        WatchList.parse(["Siren=loud"], names, mids)
    with pytest.raises(ValueError, match="at least one"):
        WatchList.parse([], names, mids)


def test_watch_list_detects_the_phone_on_the_omni_channel(yamnet, network, sources):
    names, mids = yamnet[1]["class_names"], yamnet[1]["class_mids"]
    wl = WatchList.parse(["Alarm=0.3", "Telephone=0.3", "Siren=0.3", "Dog=0.3"], names, mids)
    omni = plane_wave(sources["phone"], PHONE_DIR)[0]
    from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches
    scores = sigmoid(network(yamnet_patches(yamnet_log_mel(omni))[15:16])[0])[0]
    heard = wl.detect(scores)
    assert {e.name for e, _ in heard} >= {"Alarm", "Telephone"} and "Dog" not in {e.name for e, _ in heard}
    assert all(s >= e.threshold for e, s in heard)
    assert [s for _, s in heard] == sorted((s for _, s in heard), reverse=True)


# ------------------------------------------------------------------------------ steering and the direction search
def _clean_top1(network, sources, names) -> dict:
    from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches
    return {k: _top1(network, yamnet_patches(yamnet_log_mel(sources[k]))[12::6], names) for k in ("phone", "music")}


def test_steered_top1_names_the_source_pointed_at_and_the_search_finds_it(yamnet, network, sources, capsys):
    """At equal level the music masks the phone on the omni channel and through a plain cardioid (measured, printed);
    a microphone pointed at one track with a null on the other names each; the search, told where the music track
    is, finds the phone."""
    names = yamnet[1]["class_names"]
    scene = sources["scene"]
    from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches
    clean = _clean_top1(network, sources, names)
    assert clean == {"phone": "Telephone", "music": "Music"}
    ends = [int(t * RATE) for t in (1.5, 2.2, 3.0)]  # three patches, each with 0.96 s of both sources

    def heard(d, nulls=()):
        return _top1(network, np.concatenate([steered_patches(scene[:, :e], d[None], nulls=nulls) for e in ends]),
                     names)
    steered = {"phone": heard(PHONE_DIR, [MUSIC_DIR]), "music": heard(MUSIC_DIR, [PHONE_DIR])}
    plain = {"phone": heard(PHONE_DIR), "music": heard(MUSIC_DIR)}
    omni = _top1(network, np.concatenate([yamnet_patches(yamnet_log_mel(scene[0, :e]))[-1:] for e in ends]), names)
    label = names.index(clean["phone"])
    found, score = locate(scene[:, :int(2.2 * RATE)], label, network, nulls=[MUSIC_DIR])
    error = float(angular_distance_deg(found, PHONE_DIR))
    found_plain, _ = locate(scene[:, :int(2.2 * RATE)], label, network)
    with capsys.disabled():
        print(f"\n clean top-1 {clean}; omni top-1 {omni!r}; plain cardioid top-1 {plain}; cardioid with a null on "
              f"the other track {steered}; locate({clean['phone']!r}) with the music nulled: {error:.1f} deg off "
              f"(score {score:.2f}), without: {float(angular_distance_deg(found_plain, PHONE_DIR)):.1f} deg off")
    assert steered == clean and omni == "Music"
    assert error <= 20.0 and score > 0.3


# --------------------------------------------------------------------------------------- the streaming tagger
def test_streaming_tagger_tags_each_track_in_round_robin_within_its_budget(yamnet, network, sources):
    names = yamnet[1]["class_names"]
    scene = sources["scene"]
    tagger = SteeredTagger(network, names, top_k=3, max_taggings_per_s=4.0)
    got = []
    chunk = 1200  # 50 ms chunks: the budget of 4 per second means one tagging per 5 chunks
    for start in range(0, scene.shape[1], chunk):
        t = start / RATE
        live = {"phone": PHONE_DIR}
        if t >= 1.0:  # the music track is born at 1 s: its front end starts from silence there
            live["music"] = MUSIC_DIR
        got += tagger.push(scene[:, start:start + chunk], live)
    assert tagger.taggings == len(got) <= 4.0 * SCENE_S + 1
    assert len(got) >= 4.0 * SCENE_S - 2
    music = [g for g in got if g.track_id == "music"]
    phone = [g for g in got if g.track_id == "phone"]
    # round robin: once both tracks live, they alternate
    both = [g.track_id for g in got if g.end_sample > int(1.0 * RATE)]
    assert all(a != b for a, b in zip(both, both[1:])), both
    # coverage: a new track's first patch heard less than 0.96 s of it, later ones the full patch
    assert music[0].coverage_s < 0.96 and music[-1].coverage_s == pytest.approx(0.96)
    assert music[0].coverage_s == pytest.approx((music[0].end_sample - int(1.0 * RATE)) / RATE, abs=0.011)
    assert phone[0].coverage_s < 0.96
    for g in got:
        assert len(g.labels) == 3 and g.labels[0][1] >= g.labels[1][1] >= g.labels[2][1]
    clean = _clean_top1(network, sources, names)
    assert phone[-1].labels[0][0] == clean["phone"] and music[-1].labels[0][0] == clean["music"]
    assert tagger.latest["phone"] == phone[-1]
    tagger.push(scene[:, :chunk], {"music": MUSIC_DIR})  # the phone track ended: forgotten
    assert "phone" not in tagger.latest


def test_a_moving_track_is_followed_chunk_by_chunk(yamnet, network, sources):
    """Each chunk is steered at the direction given with it: the patches the network receives equal those of a
    front end fed the scene steered chunk by chunk at the moving direction (and nulled at the static track)."""
    from seld_ros.audio.steering import apply_gains, null_steering_gains
    from seld_ros.features.yamnet import StreamingYAMNetPatches
    seen = []

    def recording_network(patches):
        seen.append(patches.copy())
        return network(patches)
    tagger = SteeredTagger(recording_network, yamnet[1]["class_names"], top_k=1, max_taggings_per_s=20.0)
    reference = StreamingYAMNetPatches()
    scene, chunk, tags, want = sources["scene"], 1200, [], []
    for i in range(scene.shape[1] // chunk):
        d = azel_to_xyz(-90.0 + 4.0 * i, 0.0)  # 80 degrees per second
        part = scene[:, i * chunk:(i + 1) * chunk]
        tags += [t for t in tagger.push(part, {"moving": d, "music": MUSIC_DIR}) if t.track_id == "moving"]
        new = reference.push(apply_gains(part, null_steering_gains(d, MUSIC_DIR[None])))
        if len(new):
            want.append((new[-1], tuple(d)))
    moving_patches = [p for batch in seen for p in batch]
    assert len(tags) >= 20
    for t in tags:
        index = t.end_sample // 2400 - 1
        assert np.allclose(t.direction, want[index][1])
        assert any(np.array_equal(p, want[index][0]) for p in moving_patches)


def test_bad_tagger_settings_are_clear_errors(network, yamnet):
    names = yamnet[1]["class_names"]
    with pytest.raises(ValueError, match="max_taggings_per_s"):
        SteeredTagger(network, names, max_taggings_per_s=0)
    with pytest.raises(ValueError, match="top_k"):
        SteeredTagger(network, names, top_k=0)
    from seld_ros.audio.errors import AudioFormatError
    tagger = SteeredTagger(network, names)
    tagger.push(np.zeros((4, 2400), np.float32), {"a": PHONE_DIR})
    with pytest.raises(AudioFormatError, match=r"\(4, samples\)"):
        tagger.push(np.zeros((2, 2400), np.float32), {"a": PHONE_DIR})
    with pytest.raises(ValueError, match="bad track direction.*non-zero"):
        tagger.push(np.zeros((4, 2400), np.float32), {"a": PHONE_DIR, "b": [0.0, 0.0, 0.0]})
    assert tagger.samples_seen == 2400 and tagger.track_ids == ["a"]  # the refused chunks changed nothing


def test_onnxruntime_matches_torch_on_real_patches_and_is_cheaper(yamnet, network, sources, capsys):
    patches = steered_patches(sources["scene"][:, :int(2.0 * RATE)], np.stack([PHONE_DIR, MUSIC_DIR]))
    torch_net = torch_yamnet(yamnet[0])
    want, got = torch_net(patches)[0], network(patches)[0]
    assert np.max(np.abs(want - got)) < 1e-3
    one = patches[:1]
    timings = {}
    for name, net in (("onnxruntime", network), ("torch", torch_net)):
        net(one)
        t0 = time.perf_counter()
        for _ in range(20):
            net(one)
        timings[name] = (time.perf_counter() - t0) / 20 * 1e3
    with capsys.disabled():
        print(f"\n one YAMNet patch on one thread: onnxruntime {timings['onnxruntime']:.2f} ms, "
              f"torch {timings['torch']:.2f} ms (machine shared, loaded)")
    assert timings["onnxruntime"] < timings["torch"]


def test_steering_the_four_channels_spectra_equals_steering_the_audio_first(sources):
    """FoaSpectra (resample and STFT the four channels once, then weight the spectra) gives the patch of the
    steered signal (resampling and the STFT are linear), also for a short signal (silence before it, as at a start),
    and the beam power g C g' / |g|^2 of the steered signal."""
    from seld_ros.audio.steering import apply_gains
    from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches
    from seld_ros.tagging import FoaSpectra, steering_gains_with_nulls
    gains = steering_gains_with_nulls(np.stack([PHONE_DIR, MUSIC_DIR, azel_to_xyz(-100.0, -20.0)]),
                                      nulls=[azel_to_xyz(200.0, 0.0)])
    for n in (int(2.37 * RATE), int(0.5 * RATE)):
        foa = sources["scene"][:, :n]
        spectra = FoaSpectra(foa)
        end = n // 2400 * 2400
        segment = foa[:, max(0, end - 26400):end]
        for g, got in zip(gains, spectra.patches(gains)):
            y = apply_gains(segment, g)
            want = yamnet_patches(yamnet_log_mel(y))[-1]
            assert np.max(np.abs(got - want)) < 1e-4
            power = np.mean(y[-int(0.96 * RATE):].astype(np.float64) ** 2) / np.sum(g ** 2)
            assert spectra.power(g[None])[0] == pytest.approx(power, rel=1e-4)
    with pytest.raises(Exception, match=r"\(4, samples\)"):
        FoaSpectra(np.zeros((2, 24000), np.float32))
