"""Where the output folder lives: its git repository's remote URL and its path inside it.

The default source identity (core/ownership.py) is made of these, on every run. Read without
GitPython (which only publish loads) and without git's repository discovery (which refuses a
repository owned by another user, as in CI containers, and would silently change the identity):
the `.git` entry is found by walking up, and its config file is read by `git config --file`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError

_TIMEOUT = 30


def output_place(out: Path) -> tuple[str, str] | None:
    """(config file of the repository holding `out`, `out`'s path inside its work tree), or None
    when `out` is not inside a git work tree."""
    found = _work_tree(out)
    if found is None:
        return None
    top, dot_git = found
    config = dot_git / "config" if dot_git.is_dir() else _worktree_config(dot_git)
    return str(config), out.resolve().relative_to(top).as_posix()


def output_branch(out: Path) -> str | None:
    """The branch checked out in the git work tree holding `out` (its HEAD names it), or None: not
    in git, HEAD detached, or a `.git` this cannot read (the branch is then simply not known)."""
    found = _work_tree(out)
    if found is None:
        return None
    dot_git = found[1]
    try:
        git_dir = dot_git if dot_git.is_dir() else _linked_git_dir(dot_git)
        head = (git_dir / "HEAD").read_text(errors="replace").strip()
    except (OSError, UserError):
        return None
    ref = head.removeprefix("ref:").strip() if head.startswith("ref:") else ""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def _work_tree(out: Path) -> tuple[Path, Path] | None:
    """(top of the git work tree holding `out`, its `.git` folder or file), found by walking up
    from `out` (or its nearest existing parent); None when there is none."""
    probe = out.resolve()
    while not probe.exists():
        probe = probe.parent
    for top in (probe, *probe.parents):
        dot_git = top / ".git"
        if dot_git.is_dir() or dot_git.is_file():
            return top, dot_git
    return None


def _linked_git_dir(dot_git: Path) -> Path:
    """The git dir a `.git` file (linked work tree, submodule) names."""
    text = dot_git.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        raise UserError(f"{dot_git} is not a git link file; set `source:` in the source's .fleet-handshake.yaml")
    return (dot_git.parent / text.removeprefix("gitdir:").strip()).resolve()


def _worktree_config(dot_git: Path) -> Path:
    """A linked work tree or submodule: `.git` is a file naming the git dir, which may share its
    config with the main repository (`commondir`)."""
    git_dir = _linked_git_dir(dot_git)
    common = git_dir / "commondir"
    if common.is_file():
        git_dir = (git_dir / common.read_text().strip()).resolve()
    return git_dir / "config"


def remote_urls(config_file: str) -> dict[str, str]:
    """Remote name -> URL, as the repository's own config file gives them (no network)."""
    git = shutil.which("git")
    if git is None:
        raise UserError("the output folder is in a git repository but no `git` is on PATH to read its remote; "
                        "install git or set `source:` in the source's .fleet-handshake.yaml")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        proc = subprocess.run(
            [git, "config", "--file", config_file, "--null", "--get-regexp", r"^remote\..*\.url$"],
            capture_output=True, env=env, timeout=_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"cannot read {config_file} with git ({type(e).__name__}); "
                        "set `source:` in the source's .fleet-handshake.yaml") from None  # fmt: skip
    if proc.returncode not in (0, 1):  # 1: no remote configured
        raise UserError(f"cannot read {config_file} with git (exit {proc.returncode}); "
                        "set `source:` in the source's .fleet-handshake.yaml")  # fmt: skip
    urls: dict[str, str] = {}
    for entry in proc.stdout.decode(errors="replace").split("\0"):
        key, _, url = entry.partition("\n")
        if key.startswith("remote.") and key.endswith(".url") and url:
            urls.setdefault(key[len("remote.") : -len(".url")], url)
    return urls
