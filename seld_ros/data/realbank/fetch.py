"""Fetch Debian packages into a cache folder and unpack them there, without installing anything system-wide.

Layout of the cache::

    <cache>/debs/<pkg>_<version>_<arch>.deb      from `apt-get download` (run inside <cache>/debs)
    <cache>/trees/<pkg>/                          `dpkg-deb -x` of that .deb; `.unpacked` holds the .deb name when done

Fetching is injectable (``DebCache(root, downloader=...)``) so tests can place a .deb built with
``dpkg-deb --build`` instead of downloading.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seld_ros.data.realbank.decode import require_tool


class FetchError(RuntimeError):
    """A package could not be downloaded or unpacked."""


def apt_download(package: str, dest: Path) -> None:
    """`apt-get download PACKAGE` inside ``dest`` (needs an apt index: run `apt-get update` once if it fails)."""
    exe = require_tool("apt-get", "apt")
    r = subprocess.run([exe, "download", package], cwd=dest, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise FetchError(f"apt-get download {package} failed: {r.stderr.strip()[-300:]} "
                         "(is the package index current? try `apt-get update`)")


@dataclass
class Package:
    name: str
    version: str
    deb: Path
    tree: Path
    licence: str


class DebCache:
    def __init__(self, root: str | Path, downloader: Callable[[str, Path], None] = apt_download) -> None:
        self.root = Path(root)
        self.debs = self.root / "debs"
        self.trees = self.root / "trees"
        self.downloader = downloader

    def deb_path(self, package: str) -> Path | None:
        found = sorted(self.debs.glob(f"{package}_*.deb"))
        return found[-1] if found else None

    def fetch(self, package: str) -> Path:
        deb = self.deb_path(package)
        if deb is None:
            self.debs.mkdir(parents=True, exist_ok=True)
            self.downloader(package, self.debs)
            deb = self.deb_path(package)
            if deb is None:
                raise FetchError(f"{package}: no .deb in {self.debs} after downloading")
        return deb

    def unpack(self, package: str) -> Package:
        deb = self.fetch(package)
        tree = self.trees / package
        marker = tree / ".unpacked"
        if not (marker.is_file() and marker.read_text().strip() == deb.name):
            exe = require_tool("dpkg-deb", "dpkg")
            tmp = self.trees / f".{package}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(tree, ignore_errors=True)
            tmp.mkdir(parents=True)
            r = subprocess.run([exe, "-x", str(deb), str(tmp)], capture_output=True, text=True, timeout=3600)
            if r.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise FetchError(f"dpkg-deb -x {deb.name} failed: {r.stderr.strip()[-300:]}")
            (tmp / ".unpacked").write_text(deb.name)
            tmp.rename(tree)
        name, version = control_fields(deb)
        return Package(name, version, deb, tree, licence_summary(tree, name))


def control_fields(deb: Path) -> tuple[str, str]:
    exe = require_tool("dpkg-deb", "dpkg")
    r = subprocess.run([exe, "-f", str(deb), "Package", "Version"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise FetchError(f"dpkg-deb -f {deb.name}: {r.stderr.strip()}")
    fields = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines() if ": " in line)
    return fields.get("Package", deb.name.split("_")[0]), fields.get("Version", "")


_LIC_RE = re.compile(r"^License:\s*(\S.*)$", re.M)


def licence_summary(tree: Path, package: str) -> str:
    """Short licence of a package from ``usr/share/doc/<pkg>/copyright``: the ``Files: *`` stanza's licence of a
    machine-readable (DEP-5) file, plus '(+ others, see copyright)' when other stanzas differ; for free-form files
    the GPL/LGPL/CC/BSD/MIT names mentioned."""
    path = tree / "usr/share/doc" / package / "copyright"
    if not path.is_file():
        # some packages symlink their doc folder to another package's (not in this tree)
        return "unknown (no copyright file)"
    text = path.read_text(errors="replace")
    stanzas = re.split(r"\n\s*\n", text)
    main, others = "", set()
    for st in stanzas:
        m = _LIC_RE.search(st)
        if not m:
            continue
        lic = m.group(1).strip()
        files = re.search(r"^Files:\s*(.*)$", st, re.M)
        if files and files.group(1).strip() == "*":
            main = lic
        elif files:
            others.add(lic)
    if main or others:
        extra = sorted(others - {main})
        s = main or extra.pop(0)
        if not extra:
            return s
        if len(extra) <= 2:
            return s + f" (+ {', '.join(extra)} for some files; see copyright)"
        return s + f" (+ {len(extra)} other licences for some files; see copyright)"
    names = re.findall(r"\b(L?GPL[- ]?v?\d(?:\.\d)?\+?|GNU (?:Lesser )?General Public License|"
                       r"CC[- ]BY(?:-SA)?[- ]?\d\.\d|CC0|BSD|MIT|Artistic|public domain)", text, re.I)
    uniq = list(dict.fromkeys(n.strip() for n in names))
    return ", ".join(uniq[:4]) + " (free-form copyright file)" if uniq else "see copyright file"


__all__ = ["DebCache", "FetchError", "Package", "apt_download", "control_fields", "licence_summary"]
