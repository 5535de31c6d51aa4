"""PIT picks the right permutation; ADPIT equals a brute-force reference."""
import itertools

import numpy as np
import torch

from seld_ros.train.losses import adpit_loss, focal_bce_with_logits, pit_trackwise_loss
from seld_ros.train.targets import SimpleLabels, accdoa_targets, trackwise_targets

torch.set_num_threads(1)


def test_pit_picks_right_permutation():
    K = 4
    # target tracks: [class 2 @ +x, class 0 @ +y, empty]
    cls = torch.tensor([[[2, 0, -1]]])
    tdoa = torch.tensor([[[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]]])
    # prediction in the order: track0 = class0 @ +y, track1 = empty, track2 = class2 @ +x
    logits = torch.full((1, 1, 3, K), -8.0)
    logits[0, 0, 0, 0] = 8.0
    logits[0, 0, 2, 2] = 8.0
    doa = torch.tensor([[[[0, 1.0, 0], [0, 0, -1.0], [1.0, 0, 0]]]])
    loss, parts, best = pit_trackwise_loss(logits, doa, {"cls": cls, "doa": tdoa}, return_perm=True)
    perms = list(itertools.permutations(range(3)))
    # predicted track n is compared with target track perm[n]
    assert perms[int(best[0, 0])] == (1, 2, 0)
    assert float(parts["doa"]) < 1e-6 and float(loss) < 1e-3
    # any other fixed order costs more
    loss_id, _ = pit_trackwise_loss(logits, doa, {"cls": cls[:, :, [1, 2, 0]], "doa": tdoa[:, :, [1, 2, 0]]})
    assert abs(float(loss_id) - float(loss)) < 1e-6
    logits.requires_grad_(True)
    l2, _ = pit_trackwise_loss(logits, doa, {"cls": cls, "doa": tdoa, "dist": torch.tensor([[[2.0, np.nan, np.nan]]])},
                               distance=torch.full((1, 1, 3), 2.0))
    l2.backward()
    assert logits.grad is not None


def test_focal_reduces_easy_examples():
    x = torch.tensor([4.0, -4.0])
    t = torch.tensor([1.0, 0.0])
    assert (focal_bce_with_logits(x, t, 2.0) < focal_bce_with_logits(x, t, 0.0)).all()


def _brute_adpit(acc, ev, cnt):
    B, L, N, K, _ = acc.shape
    total = 0.0
    for b, l, k in itertools.product(range(B), range(L), range(K)):
        n = int(min(cnt[b, l, k], 3))
        if n == 0:
            best = float(((acc[b, l, :, k]) ** 2).sum())
        else:
            best = min(float(sum(((acc[b, l, t, k] - ev[b, l, f[t], k]) ** 2).sum() for t in range(3)))
                       for f in itertools.product(range(n), repeat=3) if len(set(f)) == n)
        total += best / 9.0
    return total / (B * L * K)


def test_adpit_equals_brute_force():
    rng = np.random.default_rng(0)
    B, L, K = 2, 5, 4
    acc = torch.tensor(rng.uniform(-1, 1, (B, L, 3, K, 3)), dtype=torch.float32)
    cnt = torch.tensor(rng.integers(0, 4, (B, L, K)))
    ev = torch.tensor(rng.normal(size=(B, L, 3, K, 3)), dtype=torch.float32)
    ev = ev / ev.norm(dim=-1, keepdim=True)
    slot = torch.arange(3)[None, None, :, None]
    ev = ev * (slot < cnt[:, :, None, :]).float()[..., None]  # unused slots are zero, as the targets
    loss, _ = adpit_loss(acc, {"acc_doa": ev, "acc_count": cnt})
    ref = _brute_adpit(acc.numpy(), ev.numpy(), cnt.numpy())
    assert abs(float(loss) - ref) < 1e-5


def test_targets_from_labels():
    cid = np.array([[1, -1, 1, 0], [-1, -1, -1, -1]])
    doa = np.zeros((2, 4, 3), np.float32)
    doa[0, :, 0] = 1
    doa[0, 2] = [0, 0, 2]
    lab = SimpleLabels(cid, doa, distance=np.full((2, 4), 1.5))
    tw = trackwise_targets(lab, 3, 3)
    assert sorted(tw["cls"][0].tolist()) == [0, 1, 1] and (tw["cls"][1] == -1).all()
    acc = accdoa_targets(lab, 3)
    assert acc["acc_count"][0].tolist() == [1, 2, 0]
    assert np.allclose(acc["acc_doa"][0, 1, 1], [0, 0, 1])
    assert acc["acc_dist_known"][0, :2, 1].all()


def test_w_act_scales_only_the_activity_term():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 5, generator=g)
    doa = torch.nn.functional.normalize(torch.randn(2, 4, 3, 3, generator=g), dim=-1)
    cls = torch.tensor([[[1, -1, -1]] * 4, [[0, 3, -1]] * 4])
    tdoa = torch.nn.functional.normalize(torch.randn(2, 4, 3, 3, generator=g), dim=-1)
    t = {"cls": cls, "doa": tdoa}
    l1, p1 = pit_trackwise_loss(logits, doa, t, w_act=1.0, w_doa=0.0)
    l13, p13 = pit_trackwise_loss(logits, doa, t, w_act=13.0, w_doa=0.0)
    assert float(p1["activity"]) > 0
    assert abs(float(l13) - 13 * float(l1)) < 1e-4 * float(l13)
    # with the DOA term on, the total is w_act * activity + doa (under the permutation chosen)
    l, p = pit_trackwise_loss(logits, doa, t, w_act=13.0, w_doa=1.0)
    assert abs(float(l) - (13 * float(p["activity"]) + float(p["doa"]))) < 1e-5
