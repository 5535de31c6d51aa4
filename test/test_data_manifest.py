"""The real-sound bank manifest: round trip, validation, source-disjoint splits."""
import pytest

from seld_ros.data.manifest import ClipRecord, ManifestError, read_manifest, write_manifest


def rec(clip, role="target", cls="bell", source="pkg:a", split="train", f0=None):
    return ClipRecord(clip=clip, role=role, class_name=cls, source=source, split=split, package="pkg",
                      package_version="1.0", member="usr/share/x.ogg", licence="GPL-2", duration_s=2.5, f0_hz=f0)


def test_round_trip(tmp_path):
    recs = [rec("clips/a.wav", f0=123.4), rec("clips/b.wav", role="distractor", cls="", source="pkg:b", split="test")]
    write_manifest(tmp_path, recs)
    back = read_manifest(tmp_path)
    assert back == recs
    assert back[0].f0_hz == pytest.approx(123.4) and back[1].f0_hz is None


def test_source_in_two_splits_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="pkg:a.*both"):
        write_manifest(tmp_path, [rec("a.wav"), rec("b.wav", split="test")])


@pytest.mark.parametrize("bad, match", [
    (dict(role="noise"), "role"), (dict(split="dev"), "split"), (dict(cls=""), "target needs a class"),
    (dict(role="distractor"), "other roles none"), (dict(source=""), "empty source")])
def test_invalid_records_are_refused(tmp_path, bad, match):
    with pytest.raises(ManifestError, match=match):
        write_manifest(tmp_path, [rec("a.wav", **bad)])


def test_missing_manifest_says_how_to_build_one(tmp_path):
    with pytest.raises(ManifestError, match="seld-bank build-real"):
        read_manifest(tmp_path)
