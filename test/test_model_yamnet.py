"""The YAMNet module itself (random weights, no wheel needed): architecture, shapes, partial evaluation."""
import pytest
import torch

from seld_ros.model.yamnet import (YAMNET_CLASS_COUNT, YAMNET_EMBEDDING_DIM, YAMNET_LAYER_COUNT, YAMNet)

torch.set_num_threads(1)


def test_full_size_module_has_yamnets_layers_and_parameter_count():
    model = YAMNet()
    assert model.layer_channels == [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    # 3 x 3 stem, 13 depthwise 3 x 3 + pointwise 1 x 1 (all with folded-BN biases), 1024 -> 521 classifier:
    # YAMNet's published 3.7 M parameters.
    assert sum(p.numel() for p in model.parameters()) == 3_729_481
    logits, embedding = model.eval()(torch.zeros(2, 1, 96, 64))
    assert logits.shape == (2, YAMNET_CLASS_COUNT) and embedding.shape == (2, YAMNET_EMBEDDING_DIM)


def test_stride_two_layers_pad_like_tensorflow_same():
    # TF 'SAME' for a stride-2 3x3 conv on an even size pads 0 before and 1 after (the ONNX graph's pads=[0,0,1,1]).
    model = YAMNet(width=0.125).eval()
    stem = model.layers[0].conv
    with torch.no_grad():
        stem.weight.zero_()
        stem.bias.zero_()
        stem.weight[0, 0, 0, 0] = 1.0  # output(i, j) = input(2i, 2j) at the kernel's top-left tap
        stem.weight[1, 0, 2, 2] = 1.0  # output(i, j) = input(2i + 2, 2j + 2): reads the padded row/column at the end
    patch = torch.arange(96 * 64, dtype=torch.float32).reshape(1, 1, 96, 64) + 1.0
    out = model.forward_features(patch, upto=1)
    assert out.shape == (1, 4, 48, 32)
    assert torch.equal(out[0, 0], patch[0, 0, 0::2, 0::2])
    assert torch.equal(out[0, 1, :47, :31], patch[0, 0, 2::2, 2::2])
    assert torch.all(out[0, 1, 47, :] == 0) and torch.all(out[0, 1, :, 31] == 0)  # zero padding after, none before


@pytest.mark.parametrize("k", range(YAMNET_LAYER_COUNT + 1))
def test_forward_from_features_equals_forward_for_every_split(k):
    torch.manual_seed(k)
    model = YAMNet(num_classes=7, width=0.25).eval()
    patch = torch.randn(3, 1, 96, 64)
    with torch.no_grad():
        logits, embedding = model(patch)
        features = model.forward_features(patch, upto=k)
        assert tuple(features.shape[2:]) == YAMNet.feature_shape(k)
        assert features.shape[1] == (1 if k == 0 else model.layer_channels[k - 1])
        logits_k, embedding_k = model.forward_from(features, start=k)
        assert torch.allclose(logits_k, logits, atol=1e-6) and torch.allclose(embedding_k, embedding, atol=1e-6)
        assert torch.allclose(model.embed(patch), embedding, atol=1e-6)


def test_bad_split_and_bad_patch_shape_are_rejected_clearly():
    model = YAMNet(width=0.125)
    with pytest.raises(ValueError, match="upto must be in 0..14"):
        model.forward_features(torch.zeros(1, 1, 96, 64), upto=15)
    with pytest.raises(ValueError, match="start must be in 0..14"):
        model.forward_from(torch.zeros(1, 1, 96, 64), start=-1)
    with pytest.raises(ValueError, match=r"\(batch, 1, frames, mel bands\)"):
        model(torch.zeros(1, 96, 64))
    with pytest.raises(ValueError, match="width must be positive"):
        YAMNet(width=0)


def test_small_random_model_trains():
    torch.manual_seed(0)
    model = YAMNet(num_classes=3, width=0.125)
    patch, target = torch.randn(4, 1, 96, 64), torch.tensor([0, 1, 2, 1])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(patch)[0], target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
