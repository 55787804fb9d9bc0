"""No clear text outside the intended bundle, whatever command runs.

Every command runs with --debug against Secrets holding known canary values (a low-entropy one
among them, which a hash would give away) and a permissive umask. Everything they produce is
scanned for each value in clear text, base64 (at every alignment), base32, hex and as MD5, SHA-1,
SHA-256, SHA-512 and CRC-32: stdout and stderr, every file of OUT, commit messages, the plan in
every format, the GitHub summary, outputs and RUNNER_TEMP files, and every file the commands
create under a fresh TMPDIR. Only the plain-mode Secret files (`OUT/*/*/secret.yaml`) may hold
the values, and they are readable by their owner only.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

from fhtest import GIT_ENV, AgeKey, SourceRepo, delivered, handshake, secret
from fleethandshake.errors import EXIT_CHANGES
from hostile.leaks import find_leaks, scan_tree

OLD = {"alpha": "canary-old-alpha-Zr83Xq", "bravo": "canary-old-bravo-Lp29Ws", "low": "hunter2"}
NEW = {"alpha": "canary-new-alpha-Gk47Tn", "bravo": "canary-new-bravo-Vm61Dc", "low": "qwerty12"}
CLEAR = "canary-cleartext-Jt55Bo"  # in a Secret someone forgot to encrypt
VALUES = [*OLD.values(), *NEW.values(), CLEAR]
INVENTORY = """\
apiVersion: v1
kind: List
items:
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata: {name: c1, namespace: fleet-default, labels: {env: prod}}
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata: {name: c2, namespace: fleet-default, labels: {env: dev, group: edge}}
- apiVersion: fleet.cattle.io/v1alpha1
  kind: ClusterGroup
  metadata: {name: edge, namespace: fleet-default}
  spec: {selector: {matchLabels: {group: edge}}}
"""


def fill(repo: SourceRepo, values: dict[str, str]) -> None:
    repo.handshakes(
        "handshakes.yaml",
        handshake("alpha", "alpha-secret", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]),
        handshake("bravo", "bravo-secret", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}]),
    )
    repo.encrypted(
        "secrets/alpha.yaml",
        secret("alpha-secret", stringData={"password": values["alpha"], "pin": values["low"]}),
    )
    token = base64.b64encode(values["bravo"].encode()).decode()
    repo.encrypted("secrets/bravo.yaml", secret("bravo-secret", data={"token": token}))


class Session:
    """Runs commands as a user would, and keeps everything they print."""

    def __init__(self, tmp: Path, key: AgeKey) -> None:
        self.cwd = tmp  # relative paths on the command line stay inside the test's folder
        self.tmpdir = tmp / "tmpdir"
        self.tmpdir.mkdir()
        self.runner = tmp / "runner"
        self.runner.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "FLEET_HANDSHAKE_", "GITHUB_"))}
        self.env.update(GIT_ENV, SOPS_AGE_KEY_FILE=str(key.key_file), TMPDIR=str(self.tmpdir))
        self.printed: list[tuple[str, str]] = []

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "fleethandshake", "--debug", *map(str, args)],
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=lambda: os.umask(0),  # the modes must not depend on the caller's umask
        )
        name = " ".join(map(str, args[:2]))
        self.printed += [(f"{name} stdout", proc.stdout), (f"{name} stderr", proc.stderr)]
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "unexpected error" not in proc.stderr, proc.stderr
        return proc


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def test_no_command_shows_a_value_anywhere(tmp_path: Path, age_key: AgeKey) -> None:
    repo = SourceRepo(tmp_path / "source", age_key)
    fill(repo, OLD)
    work = tmp_path / "output-repo"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / "README.md").write_text("bundles\n")
    git(work, "add", "README.md")
    git(work, "commit", "--quiet", "-m", "init")
    out = work / "bundles"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    clear = tmp_path / "elsewhere" / "forgotten.yaml"
    clear.parent.mkdir()
    clear.write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: f, namespace: default}}\nstringData: {{password: {CLEAR}}}\n"
    )
    s = Session(tmp_path, age_key)
    gh = {
        "GITHUB_STEP_SUMMARY": str(s.runner / "summary.md"),
        "GITHUB_OUTPUT": str(s.runner / "output.txt"),
        "RUNNER_TEMP": str(s.runner / "temp"),
    }

    assert s.run("validate", repo.root).returncode == 0
    assert s.run("validate", repo.root, "--format", "json").returncode == 0
    assert s.run("generate", repo.root, "--out", out).returncode == 0
    assert s.run("publish", repo.root, "--out", out, "--no-push").returncode == 0
    fill(repo, NEW)  # a pull request that changes every value
    for fmt in ("text", "markdown", "json"):
        assert (
            s.run("plan", repo.root, "--out", out, "--inventory", inventory, "--format", fmt).returncode == EXIT_CHANGES
        )
    assert s.run("plan", repo.root, "--out", out, "--against", "HEAD", "--format", "json").returncode == EXIT_CHANGES
    action = s.run("action", "--command", "plan", "--source", repo.root, "--out", out, "--inventory", inventory,
                   "--repo-root", tmp_path, env=gh)  # fmt: skip
    assert action.returncode == 0, action.stderr
    assert s.run("publish", repo.root, "--out", out, "--no-push", "--message", "rotate").returncode == 0
    # Another branch: publish works in a temporary linked work tree (under TMPDIR), then removes it.
    relative_out = out.relative_to(tmp_path)
    assert s.run("publish", repo.root, "--out", relative_out, "--no-push", "--branch", "elsewhere").returncode == 0
    assert git(work, "branch", "--list", "elsewhere").strip()
    assert s.run("generate", repo.root, "--out", out).returncode == 0  # unchanged: hard links, same modes
    secrets_out = sorted(out.glob("*/*/secret.yaml"))
    assert s.run("check-secrets", *sorted(repo.root.glob("secrets/*.yaml"))).returncode == 0
    assert s.run("check-secrets", *secrets_out, clear).returncode == 1  # clear text: refused, never shown
    gitrepo = s.run("gitrepo", repo.root, "--repo", "https://git.example.invalid/b.git", "--branch", "main")
    assert gitrepo.returncode == 0

    leaks = [leak for where, text in s.printed for leak in find_leaks(where, text, VALUES)]
    leaks += scan_tree(out, VALUES, allowed=lambda p: p.name == "secret.yaml" and p.parent.parent.parent == out)
    leaks += find_leaks("commit messages", git(work, "log", "--all", "--format=%B"), VALUES)
    leaks += scan_tree(s.runner, VALUES)
    leaks += scan_tree(s.tmpdir, VALUES)
    leaks += scan_tree(repo.root, VALUES)  # the source holds ciphertext only
    assert not leaks, "\n".join(leaks)

    # The scan saw what it should: the plans, the step outputs, the Secrets where they belong.
    assert (s.runner / "temp" / "fleet-handshake-plan.json").is_file()
    assert "plan-markdown" in (s.runner / "output.txt").read_text()
    values = [v for p in secrets_out for v in delivered(p).values()]
    assert NEW["alpha"] in values and NEW["low"] in values and NEW["bravo"] in values
    assert "(fleet-default/bravo)" in git(work, "log", "--all", "--format=%B")

    # Plain-mode Secret files: owner only, whatever the umask; other files stay readable.
    assert len(secrets_out) == 3
    for path in secrets_out:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in out.glob("*/*/fleet.yaml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in s.tmpdir.iterdir()) == [], "temporary files were left behind"


# Every place YAML allows text, in Secret files: each entry is (file, text with {c} for its own
# canary, whether check-secrets may pass it). Keys of `data`/`stringData` name things and are not
# secret by design; everything else a Secret file holds may be, anchors, tags and comments too.
SECRET_HEAD = "apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: default}}\n"
PLACES = [
    ("plain", "stringData:\n  password: {c}\n", False),
    ("double-quoted", 'stringData:\n  password: "{c}"\n', False),
    ("single-quoted", "stringData:\n  password: '{c}'\n", False),
    ("literal", "stringData:\n  password: |\n    {c}\n", False),
    ("data-base64", "data:\n  password: {c}\n", False),
    ("tag-verbatim", "stringData:\n  password: !<{c}> x\n", False),
    ("tag-local", "stringData:\n  password: !{c} x\n", False),
    ("tag-secondary", "stringData:\n  password: !!{c} x\n", False),
    ("tag-alone", "stringData:\n  password: !{c}\n", False),
    ("tag-on-key", "stringData:\n  !{c} password: x\n", False),
    ("tag-undefined-handle", "stringData:\n  password: !{c}!x y\n", False),
    ("tag-binary", "stringData:\n  password: !!binary {c}\n", False),
    ("tag-int", "stringData:\n  password: !!int {c}\n", False),
    ("tag-directive", "%TAG !e! tag:{c},2000:\n---\n" + SECRET_HEAD + "stringData:\n  password: !e!x y\n", False),
    ("tag-directive-bad", "%TAG !{c} tag:x,2000:\n---\n" + SECRET_HEAD + "stringData: {{password: x}}\n", False),
    ("directive-unknown", "%{c} x\n---\n" + SECRET_HEAD + "stringData: {{password: x}}\n", False),
    ("anchor", "stringData:\n  password: &{c} x\n", False),
    ("anchor-and-alias", "stringData:\n  password: &{c} x\n  again: *{c}\n", False),
    ("alias-undefined", "stringData:\n  password: *{c}\n", False),
    ("anchor-twice", "stringData:\n  password: &{c} x\n  again: &{c} y\n", False),
    ("anchor-bad", "stringData:\n  password: &{c}, x\n", False),
    ("key-in-value", "stringData:\n  password: {{{c}: x}}\n", False),
    ("key-in-value-twice", "stringData:\n  password: {{{c}: x, {c}: y}}\n", False),
    ("comment", "stringData:\n  password: x # {c}\n", False),
    ("comment-then-error", "stringData:\n  password: x # {c}\n  broken\n", False),
    ("escape-bad", 'stringData:\n  password: "{c}\\q"\n', False),
    ("escape-bad-hex", 'stringData:\n  password: "{c}\\xZZ"\n', False),
    ("escape-bad-unicode", 'stringData:\n  password: "{c}\\u12"\n', False),
    ("quote-unclosed", 'stringData:\n  password: "{c}\n', False),
    ("tab-after", "stringData:\n  password: {c}\n\tother: x\n", False),
    ("indent-after", "stringData:\n  password: {c}\n other: x\n", False),
    ("colon-inside", "stringData:\n  password: {c}: x\n", False),
    ("flow-broken", "stringData: {{password: {c}, ]}}\n", False),
    ("complex-key", "stringData:\n  ? [{c}]\n  : x\n", False),
    ("merge-key", "stringData:\n  <<: {{password: {c}}}\n", False),
    ("control-char", "stringData:\n  password: {c}\x07\n", False),
    ("annotation", "metadata:\n  name: s\n  namespace: default\n  annotations: {{last-applied: {c}}}\n", True),
    ("metadata-not-a-mapping", "metadata: x\nstringData:\n  password: {c}\n", False),
    ("sealed-with-anchor", "stringData:\n  password: &{c} ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n"
                           "sops: {{mac: m, version: 3.11.0}}\n", True),
    ("second-document-broken", "stringData:\n  password: {c}\n---\na: 1\na: 2\n", False),
    ("second-document-merge", "stringData:\n  password: {c}\n---\nx: &m {{a: 1}}\ny:\n  <<: *m\n", False),
]  # fmt: skip


def place_canary(name: str) -> str:
    return f"canary-{name}-Wq52"


def secret_file(name: str, text: str) -> str:
    body = text.format(c=place_canary(name))
    if body.startswith("%"):
        return body
    head = SECRET_HEAD.format() if not body.startswith("metadata:") else "apiVersion: v1\nkind: Secret\n"
    return head + body


def test_no_message_quotes_text_from_a_secret_file(tmp_path: Path, age_key: AgeKey) -> None:
    """validate, check-secrets and the Action never repeat what a Secret file holds, wherever it sits."""
    source = tmp_path / "source"
    (source / "secrets").mkdir(parents=True)
    for name, text, _ in PLACES:
        (source / "secrets" / f"{name}.yaml").write_text(secret_file(name, text))
    canaries = [place_canary(name) for name, _, _ in PLACES]
    s = Session(tmp_path, age_key)
    gh = {"GITHUB_STEP_SUMMARY": str(s.runner / "summary.md"), "GITHUB_OUTPUT": str(s.runner / "output.txt"),
          "RUNNER_TEMP": str(s.runner / "temp")}  # fmt: skip
    out = tmp_path / "out"

    validated = s.run("validate", source)
    assert validated.returncode == 1
    assert s.run("validate", source, "--format", "json").returncode == 1
    assert s.run("plan", source, "--out", out).returncode == 1
    for command in ("validate", "plan"):
        action = s.run("action", "--command", command, "--source", source, "--out", out, "--repo-root", tmp_path,
                       env=gh)  # fmt: skip
        assert action.returncode == 1
    checked = s.run("check-secrets", *sorted((source / "secrets").iterdir()))
    assert checked.returncode == 1

    leaks = [leak for where, text in s.printed for leak in find_leaks(where, text, canaries)]
    leaks += scan_tree(s.runner, canaries)
    leaks += scan_tree(s.tmpdir, canaries)
    assert not leaks, "\n".join(leaks)
    # Each file is named where it is refused, so the messages were there to be scanned.
    for name, _, passes in PLACES:
        assert f"secrets/{name}.yaml" in validated.stderr or passes, f"validate on {name}"
        assert (f"secrets/{name}.yaml" in checked.stderr) != passes, f"check-secrets on {name}"
    assert "secrets/tag-verbatim.yaml" in (s.runner / "summary.md").read_text()


def test_import_writes_no_value_in_clear(tmp_path: Path, age_key: AgeKey) -> None:
    """import, from an export and from the loopback API server: the values reach SOURCE only as
    sops ciphertext; nothing of them in any other file of SOURCE (handshakes carry kubectl's
    last-applied annotation, Secrets theirs with the clear text), under TMPDIR or in the output."""
    import importscene as scene
    from fakekube import FakeKube, write_kubeconfig

    values = {name: f"canary-import-{name}-Rt{i}8" for i, name in enumerate(scene.VALUES)}
    registry = values["registry"]  # a docker config must hold a JSON object: the canary goes inside one
    values["registry"] = f'{{"auths":{{"r":"{registry}"}}}}'
    s = Session(tmp_path, age_key)
    export = tmp_path / "elsewhere" / "export.yaml"  # the user's export: clear text, outside SOURCE
    export.parent.mkdir()
    export.write_text(scene.export(values))
    from_file, from_api = tmp_path / "from-file", tmp_path / "from-api"
    for source in (from_file, from_api):
        scene.sops_config(source, age_key.recipient)
    with FakeKube() as server:
        for obj in [*scene.handshakes(), *scene.secret_objects(values)]:
            server.put_object(obj)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": server})
        assert s.run("import", from_file, "--from-file", export).returncode == 0
        assert s.run("import", from_api, "--kubeconfig", kubeconfig).returncode == 0
    for source in (from_file, from_api):
        assert s.run("validate", source).returncode == 0
        assert s.run("generate", source, "--out", tmp_path / f"out-{source.name}").returncode == 0

    canaries = [*values.values(), registry]
    leaks = [leak for where, text in s.printed for leak in find_leaks(where, text, canaries)]
    leaks += scan_tree(from_file, canaries) + scan_tree(from_api, canaries) + scan_tree(s.tmpdir, canaries)
    assert not leaks, "\n".join(leaks)
    assert sorted(p.name for p in s.tmpdir.iterdir()) == [], "temporary files were left behind"
    assert not [p for p in (*from_file.rglob(".*"), *from_api.rglob(".*")) if p.name != ".sops.yaml"]
    # The values went through: generate decrypted them from what import wrote.
    for source in (from_file, from_api):
        got = [v for p in (tmp_path / f"out-{source.name}").glob("*/*/secret.yaml") for v in delivered(p).values()]
        assert values["db"] in got and values["tls"] in got
