"""PANNs checkpoint compatibility of the semantic backbone."""
import pytest
import torch

from seld_ros.model import PannsBackbone, PannsError, backbone_config, load_panns_state_dict

torch.set_num_threads(1)

# Public key names / shapes of Cnn10_mAP=0.380.pth (audioset_tagging_cnn, pytorch/models.py).
CNN10_SHAPES = {
    "bn0.weight": (64,), "conv_block1.conv1.weight": (64, 1, 3, 3), "conv_block1.conv2.weight": (64, 64, 3, 3),
    "conv_block1.bn1.running_mean": (64,), "conv_block2.conv1.weight": (128, 64, 3, 3),
    "conv_block3.conv1.weight": (256, 128, 3, 3), "conv_block4.conv2.weight": (512, 512, 3, 3),
    "conv_block4.bn2.running_var": (512,), "fc1.weight": (512, 512), "fc1.bias": (512,),
    "fc_audioset.weight": (527, 512), "fc_audioset.bias": (527,),
}


def _public_like_checkpoint(arch):
    """A state dict as the public file has it, built independently of our module
    from the published layer list, plus the waveform front-end buffers."""
    chans = {"cnn10": [64, 128, 256, 512], "cnn14": [64, 128, 256, 512, 1024, 2048]}[arch]
    g = torch.Generator().manual_seed(0)
    sd = {}

    def bn(prefix, c):
        sd[f"{prefix}.weight"] = torch.rand(c, generator=g)
        sd[f"{prefix}.bias"] = torch.rand(c, generator=g)
        sd[f"{prefix}.running_mean"] = torch.rand(c, generator=g)
        sd[f"{prefix}.running_var"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(1000)

    sd["spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    sd["spectrogram_extractor.stft.conv_imag.weight"] = torch.zeros(513, 1, 1024)
    sd["logmel_extractor.melW"] = torch.zeros(513, 64)
    bn("bn0", 64)
    cin = 1
    for i, c in enumerate(chans, 1):
        sd[f"conv_block{i}.conv1.weight"] = torch.randn(c, cin, 3, 3, generator=g)
        sd[f"conv_block{i}.conv2.weight"] = torch.randn(c, c, 3, 3, generator=g)
        bn(f"conv_block{i}.bn1", c)
        bn(f"conv_block{i}.bn2", c)
        cin = c
    sd["fc1.weight"] = torch.randn(chans[-1], chans[-1], generator=g)
    sd["fc1.bias"] = torch.randn(chans[-1], generator=g)
    sd["fc_audioset.weight"] = torch.randn(527, chans[-1], generator=g)
    sd["fc_audioset.bias"] = torch.randn(527, generator=g)
    return sd


@pytest.mark.parametrize("arch", ["cnn10", "cnn14"])
def test_public_checkpoint_loads(arch, tmp_path):
    ck = _public_like_checkpoint(arch)
    bb = PannsBackbone(backbone_config(arch))
    own = bb.state_dict()
    # every learnable/statistics key of the public file exists with the same shape
    for k, v in ck.items():
        if not k.startswith(("spectrogram_extractor", "logmel_extractor")):
            assert k in own and tuple(own[k].shape) == tuple(v.shape), k
    for k, shp in CNN10_SHAPES.items():
        if arch == "cnn10":
            assert tuple(own[k].shape) == shp
    # checkpoint dict with a "model" key, saved to disk as the public files are
    path = tmp_path / f"{arch}.pth"
    torch.save({"model": ck, "sampler": {}, "iteration": 1}, path)
    rep = load_panns_state_dict(bb, str(path))
    assert rep["ignored_frontend"] == 3
    assert torch.equal(bb.conv_block2.conv1.weight, ck["conv_block2.conv1.weight"])
    assert torch.equal(bb.fc_audioset.weight, ck["fc_audioset.weight"])
    # and a bare state dict
    bb2 = PannsBackbone(backbone_config(arch))
    load_panns_state_dict(bb2, ck)
    assert torch.equal(bb2.bn0.running_var, ck["bn0.running_var"])
    bb2.eval()
    y = bb2(torch.randn(1, 1, 50, 64))
    assert y.shape == (1, 527)


def test_wrong_checkpoint_rejected_clearly():
    ck = _public_like_checkpoint("cnn14")
    bb = PannsBackbone(backbone_config("cnn10"))
    with pytest.raises(PannsError, match="wrong shapes|missing"):
        load_panns_state_dict(bb, ck)
    ck10 = _public_like_checkpoint("cnn10")
    del ck10["conv_block3.conv2.weight"]
    with pytest.raises(PannsError, match="conv_block3.conv2.weight"):
        load_panns_state_dict(PannsBackbone(backbone_config("cnn10")), {"model": ck10})
    with pytest.raises(PannsError, match="not found"):
        load_panns_state_dict(bb, "/nonexistent/Cnn10.pth")


def test_head_with_other_classes_is_skipped():
    ck = _public_like_checkpoint("cnn10")
    bb = PannsBackbone(backbone_config("cnn10", num_at_classes=13))
    rep = load_panns_state_dict(bb, ck)
    assert set(rep["skipped_head"]) == {"fc_audioset.weight", "fc_audioset.bias"}


def test_at2seld_loads_panns_backbone():
    from seld_ros.model import build_model
    m = build_model({"backbone": {"arch": "cnn10"}})
    ck = _public_like_checkpoint("cnn10")
    load_panns_state_dict(m.backbone, ck)
    assert torch.equal(m.backbone.conv_block4.conv2.weight, ck["conv_block4.conv2.weight"])
