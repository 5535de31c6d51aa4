"""Tests never write into the user's home: every cache goes to a temporary folder."""
from __future__ import annotations

import os
from pathlib import Path


from cli_helpers import tiny  # noqa: F401 (tiny: a fixture)


# -- tests never write into the user's home ------------------------------------------------------------------------
def test_tests_route_every_cache_away_from_the_users_home(tiny, tmp_path):
    """conftest: SELD_CACHE_DIR -> a temporary folder, HOME -> a sentinel folder the session checks at the end."""
    from seld_ros.engine import default_cache_dir
    from seld_ros.pipeline import PipelineConfig, SeldPipeline

    assert default_cache_dir() == os.environ["SELD_CACHE_DIR"]
    assert "seld_test_home_" in str(Path.home())
    before = set(Path(os.environ["SELD_CACHE_DIR"]).glob("*.onnx"))
    SeldPipeline(PipelineConfig(model_file_path=str(tiny), backend="onnxruntime"))
    assert set(Path(os.environ["SELD_CACHE_DIR"]).glob("*.onnx")) - before, "the export went to SELD_CACHE_DIR"
    assert not (Path.home() / ".cache" / "seld_ros").exists()

