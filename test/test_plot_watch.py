"""Watch-list events and AudioSet tags in the DOA plot (seld_ros.bag.plot) and in seld-eval-bag: the stars are in
the figure (legend, both panels, both sides of the azimuth seam), the 13-class labels and scores do not change with
them, and a node recording used as ground truth brings its watch-list events along. The end-to-end test runs the
shipped model with the real converted YAMNet on the real glass break and phone ring of test_event_tags."""
from __future__ import annotations

import numpy as np
import pytest

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.data.geometry import angular_distance_deg, azel_to_xyz
from tagging_helpers import RATE, WEIGHTS, yamnet  # noqa: F401
from test_event_tags import GLASS_DIR, scene  # noqa: F401 (the fixture: phone ringing, glass break at 1 s)


def _stars(ax, size=70):
    """(facecolour, y offsets) of the black-edged star scatters of ``ax``, one per drawn copy."""
    out = []
    for coll in ax.collections:
        if np.allclose(coll.get_sizes(), size) and len(coll.get_edgecolors()) and \
                np.allclose(coll.get_edgecolors()[0][:3], 0.0):
            out.append((tuple(np.round(coll.get_facecolors()[0], 3)), np.asarray(coll.get_offsets())[:, 1]))
    return out


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_watch_events_are_stars_with_a_legend_entry_per_label_on_both_sides_of_the_seam():
    import matplotlib.pyplot as plt

    from seld_ros.bag.plot import WatchPoint, doa_figure, watch_color
    from seld_ros.data.labels import SceneLabels

    lab = SceneLabels.empty(30, STARSS23_CLASSES, 1)
    lab.class_id[:20, 0], lab.source_id[:20, 0], lab.doa[:20, 0] = 3, 7, azel_to_xyz(30.0, 10.0)  # 2 s track
    lab.class_id[25:27, 0], lab.source_id[25:27, 0], lab.doa[25:27, 0] = 3, 8, azel_to_xyz(-90.0, 0.0)  # 0.2 s
    glass = [WatchPoint((k + 0.5) * 0.1, "Glass", azel_to_xyz(178.0, -5.0)) for k in range(10, 14)]
    siren = [(2.05, "Siren", tuple(azel_to_xyz(-40.0, 20.0)))]  # plain tuples work too
    fig = doa_figure(lab, None, "watch", watch=glass + siren, track_tags={7: "Telephone", 8: "Speech"})
    try:
        legend = _legend_texts(fig)
        assert legend == ["telephone", "watch: Glass", "watch: Siren"], legend
        az_panel, el_panel = fig.axes[0], fig.axes[1]
        glass_color, siren_color = (tuple(np.round(watch_color(i), 3)) for i in (0, 1))
        az_glass = np.concatenate([y for c, y in _stars(az_panel) if c == glass_color])
        on_axis = az_glass[np.abs(az_glass) <= 200.0]
        # 178 deg is drawn at 178 and at its copy -182, both inside the +-200 axis, like the tracks near the seam
        assert sorted(set(np.round(on_axis, 1))) == [-182.0, 178.0] and on_axis.size == 8
        az_siren = np.concatenate([y for c, y in _stars(az_panel) if c == siren_color])
        assert np.round(az_siren[np.abs(az_siren) <= 200.0], 1).tolist() == [-40.0]
        el = {c: np.round(y, 1).tolist() for c, y in _stars(el_panel)}
        assert el == {glass_color: [-5.0] * 4, siren_color: [20.0]}
        # the 13 classes' dots are not stars: nothing else on the panels is black-edged at the stars' size
        assert len(_stars(az_panel)) == 6 and len(_stars(el_panel)) == 2  # 3 copies each in azimuth
        # the top tag once, at the 2 s track's first point; the 0.2 s track's is left out (clutter)
        texts = [(t.get_text(), t.xy) for t in az_panel.texts]
        assert texts == [("Telephone", (pytest.approx(0.05), pytest.approx(30.0)))], texts
        assert not el_panel.texts
    finally:
        plt.close(fig)
    fig = doa_figure(lab, None, "no watch")
    try:
        assert _legend_texts(fig) == ["telephone"] and not _stars(fig.axes[0]) and not fig.axes[0].texts
    finally:
        plt.close(fig)


def test_watch_events_in_event_messages_stay_out_of_the_13_class_labels_and_come_back_as_points():
    from seld_ros.bag.messages import events_msg, events_msgs_to_labels, sound_event, watch_points_from_msgs

    phone = sound_event(4, 3, "telephone", 0.9, azel_to_xyz(30.0, 10.0), float("nan"), 0)
    glass = sound_event(2**31, 435, "Glass", 0.7, azel_to_xyz(-179.0, 0.0), float("nan"), 0,
                        outside_model_classes=True)
    with_watch = [events_msg(k * 100_000_000, "mic", 100 + k, 100_000_000, [phone] + ([glass] if k >= 2 else []))
                  for k in range(5)]
    without = [events_msg(k * 100_000_000, "mic", 100 + k, 100_000_000, [phone]) for k in range(5)]
    a = events_msgs_to_labels(with_watch, STARSS23_CLASSES, frame_offset=100)
    b = events_msgs_to_labels(without, STARSS23_CLASSES, frame_offset=100)
    assert np.array_equal(a.class_id, b.class_id) and np.array_equal(a.source_id, b.source_id)
    assert np.array_equal(a.doa, b.doa)
    points = watch_points_from_msgs(with_watch, frame_offset=100)
    assert [(round(p.time_s, 3), p.label) for p in points] == [(0.25, "Glass"), (0.35, "Glass"), (0.45, "Glass")]
    assert np.allclose(points[0].doa, azel_to_xyz(-179.0, 0.0), atol=1e-6)
    assert watch_points_from_msgs(without) == []


def _copy_with_events(audio_bag, events_bag, out):
    """A bag with the audio of ``audio_bag`` and /seld_node/events of ``events_bag``: a recording of the node."""
    from seld_ros.bag.evaluate import EVENTS_TOPIC
    from seld_ros.bag.io import BagWriter, iter_messages, open_bag

    with BagWriter(out) as writer:
        for path in (audio_bag, events_bag):
            with open_bag(path) as reader:
                conns = [c for c in reader.connections if path == audio_bag or c.topic == EVENTS_TOPIC]
                for c in conns:
                    writer.add(c.topic, c.msgtype)
                for conn, t, msg in iter_messages(reader, conns, path):
                    writer.write(conn.topic, t, msg)


def test_eval_bag_with_tags_plots_the_watch_events_and_keeps_the_13_class_scores(yamnet, scene, tmp_path,  # noqa: F811
                                                                                 monkeypatch):
    """The glass break comes out as a Glass watch event: stars in the written plot's figure, the phone's track
    tagged. Replayed as ground truth (a node recording, watch events included) to a run without tags: the reference
    is exactly the tags run's 13-class prediction (F = 1, no DOA error), its watch events are the pale stars."""
    import matplotlib.pyplot as plt

    from seld_ros.bag.convert import from_dcase
    from seld_ros.bag.evaluate import EVENTS_TOPIC, evaluate_bag
    from seld_ros.data.dcase import write_wav
    from seld_ros.metrics.seld import score_scenes
    from seld_ros.pipeline import PipelineConfig, SeldPipeline
    from seld_ros.ros.params import NodeSettings

    monkeypatch.setenv("SELD_CACHE_DIR", str(tmp_path / "cache"))
    write_wav(tmp_path / "scene.wav", scene, RATE)
    from_dcase(tmp_path / "scene.wav", None, tmp_path / "bag")
    settings = NodeSettings.defaults().values
    event_tags = {k: v for k, v in settings.items() if k.startswith(("tags.", "watch_list."))}
    event_tags["tags.yamnet_weights"] = str(WEIGHTS)
    tagged = evaluate_bag(tmp_path / "bag", out_dir=tmp_path / "on", backend="torch",
                          pipeline=SeldPipeline(PipelineConfig(backend="torch", event_tags=event_tags)))
    points = tagged.watch_points()
    # the break is a Glass / Shatter event, found at the break (with the calibrated defaults its tinkling or the
    # phone can also reach "Alarm clock" for a moment: a wrong label that bench_watchlist counts, not this test's
    # subject, which is the plot)
    glass = [p for p in points if p.label in ("Glass", "Shatter")]
    assert glass and all(angular_distance_deg(p.doa, GLASS_DIR) < 45.0 for p in glass), points
    assert min(p.time_s for p in points) >= 0.9  # the break starts at 1.0 s
    assert "Telephone" in tagged.top_tag_per_track().values() or \
        "Telephone bell ringing" in tagged.top_tag_per_track().values(), tagged.top_tag_per_track()
    assert (tmp_path / "on" / "bag_doa.png").stat().st_size > 10_000
    fig = tagged.doa_figure()
    try:
        assert any(t.startswith("watch: ") for t in _legend_texts(fig)), _legend_texts(fig)
        assert sum(len(y) for _, y in _stars(fig.axes[1])) == len(points)
        assert any(t.get_text().startswith("Telephone") for t in fig.axes[0].texts)
    finally:
        plt.close(fig)

    _copy_with_events(tmp_path / "bag", tmp_path / "on" / "results", tmp_path / "recorded")
    plain = evaluate_bag(tmp_path / "recorded", out_dir=tmp_path / "off", backend="torch",
                         gt_topic=EVENTS_TOPIC, pipeline=SeldPipeline(PipelineConfig(backend="torch")))
    assert plain.watch_points() == [] and not plain.top_tag_per_track()
    ref = plain.reference
    assert np.array_equal(ref.class_id, tagged.prediction.class_id)
    assert np.array_equal(ref.source_id, tagged.prediction.source_id)
    assert np.allclose(ref.doa, tagged.prediction.doa, atol=1e-6)  # float32 in the message
    assert np.array_equal(plain.prediction.class_id, tagged.prediction.class_id)  # tags change no event
    scores = plain.scores.to_dict()
    assert scores == score_scenes([ref], [tagged.prediction], mode="dcase2024", eval_dist=plain.eval_dist,
                                  names=["bag"]).to_dict()
    present = {n: c for n, c in scores["per_class"].items() if c["n_ref"]}
    print(f"\n watch events: {len(points)} frames of {sorted({p.label for p in points})}; the run without tags "
          f"against the tags run: micro {scores['micro']}, classes {sorted(present)}")
    assert present and all(c["f"] == pytest.approx(1.0) and c["doa_error"] == pytest.approx(0.0, abs=1e-3)
                           for c in present.values()), present
    assert [(round(p.time_s, 3), p.label) for p in plain.reference_watch] == \
        [(round(p.time_s, 3), p.label) for p in points]
    assert np.allclose([p.doa for p in plain.reference_watch], [p.doa for p in points], atol=1e-5)
    fig = plain.doa_figure()
    try:
        assert any(t.startswith("watch: ") for t in _legend_texts(fig)) and not _stars(fig.axes[1])
        assert sum(len(c.get_offsets()) for c in fig.axes[1].collections
                   if np.allclose(c.get_sizes(), 160)) == len(points)  # the pale reference stars
    finally:
        plt.close(fig)
