"""Shared facts are defined once (seld_ros/constants.py): the package holds no stray copy of the internal rate,
the label hop or the layout -> channel-count table."""
from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import seld_ros
from seld_ros import constants
from seld_ros.constants import LAYOUT_CHANNELS

PACKAGE = Path(seld_ros.__file__).resolve().parent
OWNER = PACKAGE / "constants.py"
# names that, assigned a literal number anywhere but constants.py, would be a second definition of a shared fact
FACT_NAMES = {"LABEL_HOP_FRAMES", "LABEL_HOP", "LABEL_HOP_S", "LABEL_HOP_NS", "SAMPLE_RATE", "INTERNAL_RATE",
              "INTERNAL_SAMPLE_RATE", "FS", "SR", "RATE", "HOP_S"}


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != OWNER and "_msg" not in path.parts:
            yield path, path.read_text(encoding="utf-8")


def test_the_internal_rate_is_written_only_in_constants():
    strays = []
    for path, text in _sources():
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NUMBER and tok.string.replace("_", "") in ("24000", "24000.0"):
                strays.append(f"{path.relative_to(PACKAGE)}:{tok.start[0]}")
    assert not strays, f"literal 24000 outside seld_ros/constants.py (import SAMPLE_RATE): {strays}"


def test_no_module_assigns_its_own_copy_of_a_shared_fact():
    strays = []
    for path, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, (int, float)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if names & FACT_NAMES:
                    strays.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {sorted(names)}")
    assert not strays, f"shared facts re-defined outside seld_ros/constants.py: {strays}"


def test_no_module_writes_its_own_layout_channel_table():
    layouts = set(LAYOUT_CHANNELS)
    strays = []
    for path, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Dict):
                continue
            pairs = [(k.value, v.value) for k, v in zip(node.keys, node.values)
                     if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)]
            by_name = [1 for k, v in pairs if k in layouts and isinstance(v, int)]
            by_count = [1 for k, v in pairs if isinstance(k, int) and v in layouts]
            if by_name or by_count:
                strays.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not strays, f"layout/channel tables outside seld_ros/constants.py: {strays}"


def test_the_facts_agree_with_each_other_and_with_the_feature_defaults():
    from seld_ros.features.config import FeatureConfig, StereoFeatureConfig

    assert constants.LABEL_HOP_FRAMES == 5 and constants.LABEL_HOP_S == 0.1 and constants.SAMPLE_RATE == 24000
    assert constants.LABEL_HOP_NS == 100_000_000
    for cfg in (FeatureConfig(), StereoFeatureConfig()):
        assert cfg.sample_rate == constants.SAMPLE_RATE and cfg.frames_per_label == constants.LABEL_HOP_FRAMES
    assert [constants.default_layout(n) for n in (4, 2, 1, 3)] == ["foa_acn_sn3d", "stereo", "mono", ""]
    assert set(constants.PIPELINE_LAYOUTS) == {"foa_acn_sn3d", "foa_fuma", "a_format_tetra", "stereo"}
