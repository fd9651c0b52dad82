"""CI: a plain, non-editable `pip install .` of this checkout gives the whole tool.

A fresh virtual environment gets `pip install SRC` (SRC: a copy of the checkout's files, so no
build output lands in the checkout), with pip's own dependency resolution; then, from another
folder and with nothing of the checkout on the path, the installed `scratch-lstm` trains a tiny
run (the first sample run's folder, runs/exp1), draws the gates of its best.pt and measures its
gradient flow, and every figure must be there. A dependency the package uses but does not declare
(matplotlib, say) is missing from that environment, so the check fails.

The cost is kept small: torch and torchvision (with everything they require, about 5.5 GB) are
not installed again but seen through a .pth file that points at a folder of links to exactly
those distributions in the environment running this script. pip counts them as installed, so it
resolves and installs every other declared dependency (tqdm, matplotlib, ...) for real, from the
package index; nothing else of this environment (matplotlib, the editable scratch-lstm) is
visible.

    python .ci/plain_install.py   # with the CI environment active (.ci/run does)
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # pip always carries it
    from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("torch", "torchvision")  # the large ones, seen through the .pth instead of installed again
TINY = ["--train-subset", "256", "--hidden-size", "8", "--num-layers", "1", "--epochs", "1"]
FIGURES = ["runs/exp1/curves.png", "gates/gates_trained.png", "gates/gates_fresh.png",
           "gates/trajectory.png", "gates/change.png", "flow/gradient_flow.png"]


def closure(names) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need here, with everything they require (extras and
    environment markers evaluated as pip does); requirements not installed are left to pip."""
    seen, found, todo = set(), {}, [(name, frozenset()) for name in names]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[dist.metadata["Name"]] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((req.name, frozenset(req.extras)))
    return list(found.values())


def link_view(dists, view: Path) -> None:
    """A folder of links to the top-level entries (packages, modules, .dist-info) of ``dists``."""
    view.mkdir()
    for dist in dists:
        if not dist.files:
            sys.exit(f"error: {dist.metadata['Name']} has no RECORD of its files; cannot share it")
        site = Path(dist.locate_file(""))
        for top in {f.parts[0] for f in dist.files} - {"..", "__pycache__"}:
            if (site / top).exists() and not (view / top).exists():
                (view / top).symlink_to(site / top)


def copy_source(src: Path, dest: Path) -> None:
    """The checkout's files as git sees them (tracked, and new ones not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=src, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (src / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dest / name)


def run(cmd, cwd, env, timeout=600) -> None:
    print("$", " ".join(map(str, cmd)), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"{proc.stdout}{proc.stderr}error: exit {proc.returncode} from {' '.join(map(str, cmd))}")
    if "Traceback" in proc.stderr:
        sys.exit(f"{proc.stderr}error: a traceback from {' '.join(map(str, cmd))}")


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="plain-install-") as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        (tmp / "src").mkdir()
        copy_source(ROOT, tmp / "src")
        shared = closure(SHARED)
        link_view(shared, tmp / "shared")
        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", venv], tmp, env)
        py = venv / "bin" / "python"
        site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
        (Path(site) / "shared_torch.pth").write_text(f"{tmp / 'shared'}\n")
        print(f"shared from this environment: {', '.join(sorted(d.metadata['Name'] for d in shared))}")
        run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", tmp / "src"], tmp, env)
        work = tmp / "elsewhere"
        work.mkdir()
        where = subprocess.run([py, "-c", "import scratch_lstm; print(scratch_lstm.__file__)"], cwd=work,
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
        if not where.startswith(site):
            sys.exit(f"error: scratch_lstm was imported from {where}, not from the new environment ({site})")
        tool = venv / "bin" / "scratch-lstm"
        run([tool, "train", *TINY, "--threads", "1"], work, env)
        run([tool, "gates", "--checkpoint", "runs/exp1/best.pt", "--out", "gates"], work, env)
        run([tool, "gradient-flow", "--checkpoint", "runs/exp1/best.pt", "--out", "flow"], work, env)
        missing = [f for f in FIGURES if not (work / f).is_file() or (work / f).read_bytes()[:4] != b"\x89PNG"]
        if missing:
            sys.exit(f"error: a plain install did not write {', '.join(missing)}")
        print(f"plain install: train, gates and gradient-flow wrote all {len(FIGURES)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
