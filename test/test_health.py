"""seld_ros.health: one enumeration of fault kinds, and the counters, level, summary line and /diagnostics list made
from it (ROS-free; the node's use of it is tested over DDS in test_node_faults.py / test_ros_node.py)."""
from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from ros_helpers.ros_env import REPO_ROOT
from seld_ros.health import (
    REJECTIONS,
    RECENT_S,
    SUSTAINED_S,
    WATCHED,
    Fault,
    FaultCounter,
    Level,
    LevelTracker,
    Summary,
    Throttle,
    diagnostic_keys,
    diagnostic_values,
    status_message,
    watched_counts,
)


def test_a_fault_is_its_kind_as_key_text_and_json():
    import json

    assert Fault("gap") is Fault.GAP and Fault.GAP == "gap" and f"{Fault.GAP}" == "gap" and str(Fault.GAP) == "gap"
    assert {Fault.BAD_LAYOUT: 1}["bad_layout"] == 1 and json.dumps({Fault.GAP: Fault.GAP}) == '{"gap": "gap"}'
    assert len({f.value for f in Fault}) == len(Fault)  # kinds are unique


def test_counter_counts_occurrences_samples_and_rejections_by_kind():
    c = FaultCounter()
    c.add(Fault.GAP, 480)
    c.add(Fault.GAP, 20)
    c.add(Fault.NON_FINITE, 3)
    c.add(Fault.BAD_LAYOUT)
    c.add(Fault.DDS_LOST, count=4)
    assert (c["gaps"], c["gap_samples"], c["non_finite_chunks"], c["non_finite_samples"]) == (2, 500, 1, 3)
    assert (c["rejected_bad_layout"], c["chunks_rejected"], c["dds_lost_messages"]) == (1, 1, 4)
    w = watched_counts(c)
    assert set(WATCHED) <= set(w) and w["gaps"] == 2 and w["non_finite_samples"] == 3 and w["rejected_bad_layout"] == 1


def test_level_warns_on_growth_errors_when_sustained_and_recovers():
    t = LevelTracker()
    assert t.update({"gaps": 0}, 0.0) == (Level.OK, [])
    assert t.update({"gaps": 1}, 1.0) == (Level.WARN, ["gaps"])
    now = 1.0
    while now < 1.0 + SUSTAINED_S:  # grows in every period
        now += 1.0
        level, _ = t.update({"gaps": int(now)}, now)
    assert level == Level.ERROR
    level, recent = t.update({"gaps": int(now)}, now + 1.0)  # stopped growing: WARN while recent
    assert level == Level.WARN and recent == ["gaps"]
    assert t.update({"gaps": int(now)}, now + RECENT_S + 2.0) == (Level.OK, [])
    assert int(Level.WARN) == 1 and int(Level.ERROR) == 2  # diagnostic_msgs/DiagnosticStatus values
    assert status_message(Level.OK, {"gaps": 3}, []) == "ok (earlier input problems: see values)"
    assert status_message(Level.ERROR, {"gaps": 3}, ["gaps"]) == "sustained input problems: gaps"


def test_summary_line_says_what_changed_and_the_totals():
    s = Summary()
    assert s.line({"gaps": 0}, 0.0) is None
    line = s.line({"gaps": 2, "skips": 0}, 0.25)
    assert re.match(r"input summary \(last \d+ s\): gaps \+2; totals: lost_audio_s 0\.250, gaps 2$", line), line
    assert s.line({"gaps": 2, "skips": 0}, 0.25) is None
    assert "nothing new" in s.line({"gaps": 2}, 0.25, force=True)


def test_diagnostic_values_come_from_the_enumeration_and_the_docs_list_them():
    counts = FaultCounter(chunks_in=5)
    counts.add(Fault.BAD_CHANNELS)
    counts.add(Fault.GAP, 100)
    values = dict(diagnostic_values({"backend": "torch"}, counts, 0.5, {"latency_ms_p50": 1.23456}))
    assert values["backend"] == "torch" and values["latency_ms_p50"] == "1.235" and values["lost_audio_s"] == "0.500"
    assert values["gaps"] == "1" and values["gap_samples"] == "100" and values["chunks_rejected"] == "1"
    assert values["chunks_rejected_bad_channels"] == "1" and values["stamps_clamped"] == "0"
    assert set(values) - {"backend", "latency_ms_p50", "chunks_rejected_bad_channels"} <= set(diagnostic_keys())
    doc = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    table = doc[doc.index("## Diagnostics"):doc.index("## Audio QoS")]
    for key in diagnostic_keys():
        if key.startswith("chunks_rejected_"):
            assert "chunks_rejected_<kind>" in table
            assert key[len("chunks_rejected_"):] in {f.value for f in REJECTIONS}
        else:
            assert f"`{key}`" in table, f"docs/interfaces.md does not list the diagnostics key {key}"


def test_throttle_logs_once_per_period_and_flushes_the_suppressed_count(caplog):
    log = logging.getLogger("test_health")
    th = Throttle(log, period_s=60.0)
    with caplog.at_level(logging.WARNING, logger="test_health"):
        for k in range(5):
            th.warn(Fault.GAP, f"gap {k}")
        th.flush(force=True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["gap 0", "4 similar warnings suppressed (gap); latest: gap 4"]


def test_the_pipeline_reports_its_issues_and_rejections_as_faults(bundle, tmp_path):
    from pipeline_helpers import RATE, chunk
    from seld_ros.pipeline import InputError, PipelineConfig, SeldPipeline

    pipe = SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0,
                                       onnx_cache_dir=str(tmp_path)))
    x = (np.random.default_rng(0).standard_normal((RATE, 4)) * 0.05).astype(np.float32)
    issues = []
    for start in (0, 2400, 9600):  # a gap before 9600
        issues += pipe.push(chunk(x[start:start + 2400], start)).issues
    assert [i.kind for i in issues] == [Fault.GAP] and isinstance(issues[0].kind, Fault)
    assert pipe.stats()["gaps"] == 1 and pipe.stats()["gap_samples"] == 4800
    with pytest.raises(InputError) as err:
        pipe.push(chunk(x[:2400, :2], 12000, layout="stereo"))
    assert err.value.kind is Fault.BAD_LAYOUT
