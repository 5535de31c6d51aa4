"""SELD losses.

* Track-wise heads: frame-level permutation-invariant training (PIT) over the
  N! track orders; sigmoid focal loss for class activity, DOA loss (1 - cos)
  only on active target tracks, optional relative distance error.
* Multi-ACCDOA: auxiliary-duplicating PIT (ADPIT, Shimada et al. 2022). For
  every frame and class the target tracks are filled with the class's 0-3
  events in every way that uses each event at least once (1, 6 or 6
  patterns), and the cheapest pattern is trained. Taking the minimum per
  (frame, class) generalises the DCASE baseline, which shares one pattern
  index across classes.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def focal_bce_with_logits(logits, target, gamma: float = 2.0, alpha: float | None = None):
    """Element-wise sigmoid focal loss (gamma = 0 gives plain BCE)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if gamma > 0:
        p = torch.sigmoid(logits)
        pt = p * target + (1 - p) * (1 - target)
        bce = bce * (1 - pt).pow(gamma)
    if alpha is not None:
        bce = bce * (alpha * target + (1 - alpha) * (1 - target))
    return bce


def class_balanced_weights(counts, beta: float = 0.999):
    """Cui et al. (2019) effective-number weights, mean 1. ``counts`` (K,) active frames."""
    counts = torch.as_tensor(counts, dtype=torch.float64).clamp(min=1)
    w = (1 - beta) / (1 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    return (w / w.mean()).float()


def _perms(n):
    return torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long)


def pit_trackwise_loss(act_logits, doa, targets, distance=None, *, gamma: float = 2.0,
                       class_weights=None, w_act: float = 1.0, w_doa: float = 1.0, w_dist: float = 0.1,
                       return_perm: bool = False):
    """Frame-level PIT.

    act_logits (B, L, N, K); doa (B, L, N, 3) unit; distance (B, L, N) or None.
    targets: "cls" long (B, L, N) (-1 empty), "doa" (B, L, N, 3), "dist" (B, L, N) NaN unknown.
    ``w_act`` scales the activity term, a mean over the N x K outputs: with
    13 classes and focal loss it is small beside the DOA term unless raised.
    Returns (total, parts dict[, chosen permutation index (B, L)]).
    """
    B, L, N, K = act_logits.shape
    perms = _perms(N).to(act_logits.device)              # (P, N)
    cls, tdoa = targets["cls"], targets["doa"]
    # targets re-ordered by each permutation: (B, L, P, N, ...)
    cls_p = cls[:, :, perms]
    doa_p = tdoa[:, :, perms]
    active = cls_p >= 0
    onehot = F.one_hot(cls_p.clamp(min=0), K).float() * active[..., None]
    act = focal_bce_with_logits(act_logits[:, :, None].expand(-1, -1, perms.shape[0], -1, -1),
                                onehot, gamma)
    if class_weights is not None:
        act = act * class_weights.to(act.device)
    act_f = act.mean(dim=(-1, -2))                                   # (B, L, P)
    cos = (doa[:, :, None] * doa_p).sum(-1)                          # (B, L, P, N)
    doa_f = ((1 - cos) * active).sum(-1)                             # (B, L, P)
    total_f = w_act * act_f + w_doa * doa_f / N
    dist_f = None
    if distance is not None and "dist" in targets:
        tdist = targets["dist"][:, :, perms]
        known = active & torch.isfinite(tdist)
        td = torch.where(known, tdist, torch.ones_like(tdist))
        rel = (distance[:, :, None] - td).abs() / td.clamp(min=0.1)
        dist_f = (rel * known).sum(-1)
        total_f = total_f + w_dist * dist_f / N
    best = total_f.argmin(dim=-1)                                    # (B, L)
    pick = lambda t: t.gather(-1, best[..., None]).squeeze(-1)       # noqa: E731
    n_act = active[..., 0, :].sum().clamp(min=1)
    parts = {"activity": pick(act_f).mean(), "doa": pick(doa_f).sum() / n_act}
    loss = w_act * parts["activity"] + w_doa * parts["doa"]
    if dist_f is not None:
        n_known = (active[..., 0, :] & torch.isfinite(targets["dist"])).sum().clamp(min=1)
        parts["distance"] = pick(dist_f).sum() / n_known
        loss = loss + w_dist * parts["distance"]
    parts = {k: v.detach() for k, v in parts.items()}
    return (loss, parts, best) if return_perm else (loss, parts)


def adpit_patterns(max_same: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(patterns (P, 3) event index per output track, valid (4, P) bool per event count)."""
    tracks = 3
    pats, valid = [], []
    for n in range(1, max_same + 1):
        for f in itertools.product(range(n), repeat=tracks):
            if len(set(f)) == n:  # surjective: every event appears on some track
                pats.append(f)
                valid.append(n)
    pats_t = torch.tensor(pats, dtype=torch.long)
    v = torch.zeros(max_same + 1, len(pats), dtype=torch.bool)
    v[0, 0] = True  # no event: the target is all zeros whatever the pattern
    for p, n in enumerate(valid):
        v[n, p] = True
    return pats_t, v


def adpit_loss(accdoa, targets, distance=None, *, class_weights=None, w_dist: float = 0.1,
               dist_scale: float = 5.0):
    """accdoa (B, L, 3, K, 3); distance (B, L, 3, K) or None. targets: "acc_doa"
    (B, L, 3, K, 3), "acc_count" (B, L, K), optional "acc_dist" (B, L, 3, K) and
    "acc_dist_known". Mean squared error per element under the best pattern."""
    B, L, N, K, _ = accdoa.shape
    if N != 3:
        raise ValueError("ADPIT is defined for 3 tracks")
    pats, valid = adpit_patterns()
    pats, valid = pats.to(accdoa.device), valid.to(accdoa.device)
    cnt = targets["acc_count"].clamp(max=3)
    tgt = targets["acc_doa"][:, :, pats]                              # (B, L, P, 3, K, 3)
    err = ((accdoa[:, :, None] - tgt) ** 2).sum(dim=(3, 5))           # (B, L, P, K)
    if distance is not None and "acc_dist" in targets:
        td = targets["acc_dist"][:, :, pats]                          # (B, L, P, 3, K)
        kn = targets["acc_dist_known"][:, :, pats].float()
        err = err + w_dist * (((distance[:, :, None] - td) / dist_scale) ** 2 * kn).sum(dim=3)
    ok = valid[cnt]                                                  # (B, L, K, P)
    err = err.permute(0, 1, 3, 2).masked_fill(~ok, float("inf"))
    per = err.min(dim=-1).values / (N * 3)                           # (B, L, K)
    if class_weights is not None:
        per = per * class_weights.to(per.device)
    loss = per.mean()
    return loss, {"accdoa": loss.detach()}


def seld_loss(outputs: dict, targets: dict, mode: str, loss_cfg: dict | None = None,
              class_weights=None):
    """Dispatch on output mode. ``outputs`` maps output names to tensors."""
    c = dict(loss_cfg or {})
    if mode == "trackwise":
        return pit_trackwise_loss(outputs["activity_logits"], outputs["doa"], targets,
                                  outputs.get("distance"), gamma=c.get("focal_gamma", 2.0),
                                  class_weights=class_weights, w_act=c.get("w_act", 1.0),
                                  w_doa=c.get("w_doa", 1.0),
                                  w_dist=c.get("w_dist", 0.1))
    return adpit_loss(outputs["accdoa"], targets, outputs.get("distance"),
                      class_weights=class_weights, w_dist=c.get("w_dist", 0.1))
