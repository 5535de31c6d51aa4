"""The mapping file (``config/real_bank/mapping.yaml``): which files of which package become which class or role.

Top level: ``packages`` (list of package names, in download order), ``rules`` (list). A rule::

    id: fillets_nl_small_fish                 # unique; names the rule in counts and notes
    package: fillets-ng-data-nl
    paths: ["usr/share/games/fillets-ng/sound/*/nl/*-m-*.ogg"]   # globs below the unpacked tree; '*' crosses '/';
                                              # '::' separates a container and a glob over its members
    class: femaleSpeech                       # a target class ... or
    role: distractor                          # distractor | ambience | skip (claims the files, makes no clips)
    kind: plain                               # plain | speech | steps | knock | fluidsynth
    gender: female                            # speech only: female | male | auto (the measured F0 decides)
    source: "{package}:nl"                    # source group template: {package} {rule} {stem} {parent} {grandparent}
                                              # {member} {tail} (after the last '_' of the name), {prefix} (before
                                              # the first '_'), {alpha} (name without digits and dots);
                                              # default "{package}:{member}" (each file its own source)
    max_files: 400                            # random subset of matching files (seeded)
    max_pieces_per_file: 4                    # plain: random subset of the 1-8 s pieces cut from one file
    repeat: [2, 3]                            # plain: loop a short clip k times (gaps of 0.2-0.6 s)
    derive: 20                                # steps/knock/fluidsynth: events made per source
    programs: [0, 1, 24]                      # fluidsynth: GM programs; each program is one source
    min_s: 0.3                                # shortest kept clip (s); long files are cut into 1-8 s pieces
    playback: phone_speaker                   # plain: play the file through a small phone loudspeaker (band-pass
                                              # 300 Hz-8 kHz, mild soft clipping), for designed ringtones
    max_clipped: 0.001                        # largest fraction of clipped samples in a kept piece; longer pieces
                                              # above it are cut around the clipped parts (>= 1 s sub-pieces)
    note: "free text copied to the manifest"

Files are claimed by the first matching rule of their package (rule order = priority), so a target file never also
becomes a distractor.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seld_ros.classes import STARSS23_CLASSES

KINDS = ("plain", "speech", "steps", "knock", "fluidsynth")
RULE_KEYS = {"id", "package", "paths", "class", "role", "kind", "gender", "source", "max_files",
             "max_pieces_per_file", "repeat", "derive", "programs", "min_s", "max_clipped", "playback", "note"}
PLAYBACKS = ("", "phone_speaker")


class MappingError(ValueError):
    """The mapping file is malformed."""


@dataclass
class Rule:
    id: str
    package: str
    paths: list[str]
    role: str
    class_name: str = ""
    kind: str = "plain"
    gender: str = ""
    source: str = "{package}:{member}"
    max_files: int | None = None
    max_pieces_per_file: int | None = None
    repeat: tuple[int, int] | None = None
    derive: int = 0
    programs: list[int] = field(default_factory=list)
    min_s: float = 0.3
    max_clipped: float = 0.001
    playback: str = ""
    note: str = ""

    def matches(self, member: str) -> bool:
        return any(_glob_match(p, member) for p in self.paths)

    def container_globs(self) -> list[str]:
        return [p.split("::", 1)[0] for p in self.paths if "::" in p]


def _glob_match(pattern: str, path: str) -> bool:
    """fnmatch where '*' also crosses '/', with '{a,b}' alternatives; '::' must match literally on both sides."""
    m = re.fullmatch(r"(.*)\{([^{}]*)\}(.*)", pattern)
    if m:
        return any(_glob_match(m.group(1) + alt + m.group(3), path) for alt in m.group(2).split(","))
    if ("::" in pattern) != ("::" in path):
        return False
    return fnmatch.fnmatchcase(path, pattern)


@dataclass
class Mapping:
    packages: list[str]
    rules: list[Rule]
    path: str = ""

    def rules_for(self, package: str) -> list[Rule]:
        return [r for r in self.rules if r.package == package]

    def classify(self, package: str, member: str) -> Rule | None:
        for r in self.rules_for(package):
            if r.matches(member):
                return r
        return None


def load_mapping(path: str | Path, class_names=STARSS23_CLASSES) -> Mapping:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot read mapping ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise MappingError(f"{path}: expected a mapping with a 'rules' list")
    rules, ids = [], set()
    for i, d in enumerate(doc["rules"]):
        where = f"{path}: rule {i} ({d.get('id', '?') if isinstance(d, dict) else '?'})"
        if not isinstance(d, dict):
            raise MappingError(f"{where}: not a mapping")
        unknown = set(d) - RULE_KEYS
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
        for k in ("id", "package", "paths"):
            if k not in d:
                raise MappingError(f"{where}: missing {k!r}")
        if d["id"] in ids:
            raise MappingError(f"{where}: duplicate id")
        ids.add(d["id"])
        cls, role = d.get("class", ""), d.get("role", "")
        if bool(cls) == bool(role):
            raise MappingError(f"{where}: give exactly one of 'class' or 'role'")
        if cls and cls not in class_names:
            raise MappingError(f"{where}: unknown class {cls!r}")
        if role and role not in ("distractor", "ambience", "skip"):
            raise MappingError(f"{where}: role must be distractor, ambience or skip, not {role!r}")
        kind = d.get("kind", "plain")
        if kind not in KINDS:
            raise MappingError(f"{where}: kind must be one of {KINDS}")
        gender = d.get("gender", "")
        if kind == "speech" and gender not in ("female", "male", "auto"):
            raise MappingError(f"{where}: speech rules need gender female, male or auto")
        if kind == "speech" and cls and cls not in ("femaleSpeech", "maleSpeech"):
            raise MappingError(f"{where}: speech rules are for femaleSpeech/maleSpeech")
        playback = str(d.get("playback", ""))
        if playback not in PLAYBACKS:
            raise MappingError(f"{where}: playback must be one of {PLAYBACKS[1:]}, not {playback!r}")
        if playback and kind != "plain":
            raise MappingError(f"{where}: playback applies to plain rules only")
        paths = d["paths"] if isinstance(d["paths"], list) else [d["paths"]]
        rep = d.get("repeat")
        rules.append(Rule(id=d["id"], package=d["package"], paths=[str(p).lstrip("/") for p in paths],
                          role="target" if cls else role, class_name=cls or "", kind=kind, gender=gender,
                          source=d.get("source", "{package}:{member}"), max_files=d.get("max_files"),
                          max_pieces_per_file=d.get("max_pieces_per_file"),
                          repeat=tuple(rep) if rep else None, derive=int(d.get("derive", 0)),
                          programs=[int(p) for p in d.get("programs", [])], min_s=float(d.get("min_s", 0.3)),
                          max_clipped=float(d.get("max_clipped", 0.001)), playback=playback,
                          note=str(d.get("note", ""))))
    packages = list(doc.get("packages") or dict.fromkeys(r.package for r in rules))
    missing = {r.package for r in rules} - set(packages)
    if missing:
        raise MappingError(f"{path}: rules name packages not in 'packages': {sorted(missing)}")
    return Mapping(packages, rules, str(path))


__all__ = ["KINDS", "PLAYBACKS", "Mapping", "MappingError", "Rule", "load_mapping"]
