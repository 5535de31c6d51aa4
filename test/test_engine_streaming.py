"""StreamingInference: sliding-window bookkeeping, and agreement with offline inference."""
import numpy as np
import pytest

from seld_ros.engine.base import InferenceBackend, TensorSpec
from seld_ros.engine.streaming import StreamingInference

C, F = 13, 64


class FrameLocalBackend(InferenceBackend):
    """Output for label frame j = mean of its 5 feature frames (no context): streaming must equal offline."""

    name = "frame-local"

    def load(self, frames):
        self.input_specs = [TensorSpec("features", (1, C, frames, F))]
        self.output_specs = [TensorSpec("y", (1, frames // 5, 2))]
        self.calls = 0
        self._loaded = True
        return self

    def _run(self, inputs):
        self.calls += 1
        x = inputs["features"][0]                      # (C, T, F)
        T = x.shape[1]
        m = x.reshape(C, T // 5, 5, F).mean(axis=(0, 2, 3))
        return {"y": np.stack([m, -m], axis=1)[None].astype(np.float32)}


def offline(feats):
    T = feats.shape[1]
    m = feats.reshape(C, T // 5, 5, F).mean(axis=(0, 2, 3))
    return np.stack([m, -m], axis=1)


@pytest.mark.parametrize("lookahead", [0, 1, 3])
@pytest.mark.parametrize("hop", [5, 3, 10, 40])
def test_streaming_emits_every_frame_once_in_order(lookahead, hop):
    rng = np.random.default_rng(lookahead * 100 + hop)
    feats = rng.standard_normal((C, 5 * 23, F)).astype(np.float32)
    s = StreamingInference(FrameLocalBackend().load(20), lookahead=lookahead)
    got = s.run_clip(feats, hop_frames=hop)
    np.testing.assert_allclose(got["y"], offline(feats), atol=1e-6)


def test_indices_latency_and_one_run_per_hop():
    be = FrameLocalBackend().load(20)
    s = StreamingInference(be, lookahead=2)
    assert s.window_labels == 4 and s.latency_frames == 2 and s.window_seconds == pytest.approx(0.4)
    feats = np.ones((C, 5, F), np.float32)
    assert s.push(feats) is None and s.push(feats) is None      # frames 0, 1 wait for 2 frames of future
    out = s.push(feats)
    assert out.first_index == 0 and out.count == 1 and out.outputs["y"].shape == (1, 2)
    assert s.push(feats[:, :3]) is None                          # incomplete label frame waits
    out = s.push(feats[:, :2])
    assert out.first_index == 1 and out.count == 1
    assert be.calls == 2
    tail = s.flush()
    assert tail.first_index == 2 and tail.count == 2
    assert s.flush() is None


def test_context_matters_only_inside_the_window():
    """A backend that sums the whole window: the emitted frame sees exactly W label frames of history."""

    class WindowSum(FrameLocalBackend):
        def _run(self, inputs):
            x = inputs["features"][0]
            total = x.sum()
            T = x.shape[1]
            return {"y": np.full((1, T // 5, 2), total, np.float32)}

    s = StreamingInference(WindowSum().load(10))  # W = 2 label frames
    ones = np.ones((C, 5, F), np.float32)
    per_frame = C * 5 * F
    assert s.push(ones).outputs["y"][0, 0] == per_frame          # window: [pad, f0]
    assert s.push(ones).outputs["y"][0, 0] == 2 * per_frame      # [f0, f1]
    assert s.push(ones).outputs["y"][0, 0] == 2 * per_frame      # [f1, f2]: f0 has left the window
    s.reset()
    assert s.push(ones).outputs["y"][0, 0] == per_frame
    # forget_history (after concealed audio): the past is start-of-stream padding again, numbering continues
    s.push(ones)
    s.forget_history()
    out = s.push(ones)
    assert out.outputs["y"][0, 0] == per_frame and out.first_index == 2


def test_rejects_bad_configuration():
    be = FrameLocalBackend().load(20)
    with pytest.raises(ValueError, match="lookahead"):
        StreamingInference(be, lookahead=4)
    with pytest.raises(ValueError, match="features must be"):
        StreamingInference(be).push(np.zeros((4, 5, F), np.float32))


def test_streaming_with_real_network_and_full_window_matches_offline():
    """Torch AT-style net: when the window covers the whole clip, the last emitted frames equal offline."""
    torch = pytest.importorskip("torch")
    from seld_ros.engine.testing import TinySeldNet
    from seld_ros.engine.torch_backend import TorchBackend
    net = TinySeldNet(seed=4)
    frames = 40
    feats = np.random.default_rng(2).standard_normal((C, frames, F)).astype(np.float32)
    with torch.inference_mode():
        ref = net(torch.from_numpy(feats[None]))[0][0].numpy()
    s = StreamingInference(TorchBackend().load(net, frames), lookahead=7)   # emits frame 0 once 8 frames are in
    out = s.push(feats)
    assert out.first_index == 0 and out.count == 1
    np.testing.assert_allclose(out.outputs["accdoa"][0], ref[0], atol=1e-5)


def test_per_bin_pad_value_fills_the_start_of_the_window():
    class WindowFirst(FrameLocalBackend):
        def _run(self, inputs):
            x = inputs["features"][0]
            return {"y": np.broadcast_to(x[:, 0, :].sum(), (1, x.shape[1] // 5, 2)).astype(np.float32)}

    pad = np.arange(C * F, dtype=np.float32).reshape(C, F)
    s = StreamingInference(WindowFirst().load(10), pad_value=pad)
    out = s.push(np.zeros((C, 5, F), np.float32))
    assert out.outputs["y"][0, 0] == pad.sum()
    with pytest.raises(ValueError, match="pad_value"):
        StreamingInference(WindowFirst().load(10), pad_value=np.zeros(3))
