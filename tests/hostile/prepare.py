"""`prepare:` functions of the corpus: what a case needs that cannot be a static file."""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Callable

from fhtest import make_age_key, secret, sops_encrypt
from fleethandshake.adapters.fs.source import MAX_SOURCE_FILE
from hostile.corpus import CANARY_ALPHA, Context, Result, alpha_secret

Prepare = Callable[[Context], None]
PREPARE: dict[str, Prepare] = {}

OUTSIDE_CANARY = "hostile-canary-outside-Rt61Vd"
NEW_ALPHA = "hostile-canary-alpha-new-Hw38Qe"
NOISY_CANARY = "hostile-canary-noisy-sops-Kc07"


def prepare(fn: Prepare) -> Prepare:
    PREPARE[fn.__name__] = fn
    return fn


def _script(ctx: Context, name: str, body: str) -> str:
    path = ctx.tmp / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def _new_alpha(ctx: Context, **fields: str) -> None:
    """Change alpha's Secret, so that this run must decrypt it (others are reused)."""
    ctx.repo.encrypted("secrets/alpha.yaml", alpha_secret(NEW_ALPHA, **fields))
    ctx.canaries.append(NEW_ALPHA)


@prepare
def over_size_limit(ctx: Context) -> None:
    path = ctx.source / "handshakes" / "big.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = b"# " + b"x" * 1021 + b"\n"
    with path.open("wb") as f:
        for _ in range(MAX_SOURCE_FILE // len(line) + 1):
            f.write(line)
    assert path.stat().st_size > MAX_SOURCE_FILE


@prepare
def binary_and_non_utf8(ctx: Context) -> None:
    folder = ctx.source / "handshakes"
    folder.mkdir()
    (folder / "blob.yaml").write_bytes(b"apiVersion: v1\nkind: Secret\0\x01\x02\xff\xfe\n")
    (folder / "latin1.yaml").write_bytes("metadata:\n  name: caf\xe9\n".encode("latin-1"))
    (folder / "surrogate.yml").write_bytes(b"kind: FleetHandshake\nmetadata: {name: \xed\xa0\x80}\n")


@prepare
def deep_nesting(ctx: Context) -> None:
    folder = ctx.source / "handshakes"
    folder.mkdir()
    depth = 100_000
    (folder / "flow.yaml").write_text("spec: " + "[" * depth + "]" * depth + "\n")
    (folder / "block.yaml").write_text("".join(" " * i + f"k{i}:\n" for i in range(5_000)) + " " * 5_000 + "v\n")
    (folder / "just-too-deep.yaml").write_text("spec: " + "[" * 70 + "]" * 70 + "\n")


@prepare
def symlink_outside(ctx: Context) -> None:
    outside = ctx.tmp / "elsewhere" / "stolen.yaml"
    outside.parent.mkdir()
    outside.write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: stolen, namespace: default}}\n"
        f"stringData: {{password: {OUTSIDE_CANARY}}}\n"
    )
    (ctx.source / "secrets" / "stolen.yaml").symlink_to(outside)
    (ctx.source / "secrets" / "passwd.yaml").symlink_to("/etc/passwd")
    (ctx.source / "secrets" / "up.yaml").symlink_to("../../elsewhere/stolen.yaml")
    ctx.canaries.append(OUTSIDE_CANARY)


@prepare
def symlink_loop(ctx: Context) -> None:
    folder = ctx.source / "handshakes"
    folder.mkdir()
    (folder / "loop-a.yaml").symlink_to("loop-b.yaml")
    (folder / "loop-b.yaml").symlink_to("loop-a.yaml")
    (folder / "self.yaml").symlink_to("self.yaml")


@prepare
def dangling_symlink(ctx: Context) -> None:
    (ctx.source / "handshakes").mkdir(exist_ok=True)
    (ctx.source / "handshakes" / "gone.yaml").symlink_to("never-there.yaml")


@prepare
def special_files(ctx: Context) -> None:
    folder = ctx.source / "handshakes"
    folder.mkdir(exist_ok=True)
    os.mkfifo(folder / "pipe.yaml")  # reading it would block for ever
    (folder / "zero.yaml").symlink_to(folder / "pipe.yaml")


@prepare
def config_symlink_outside(ctx: Context) -> None:
    outside = ctx.tmp / "elsewhere" / "kubeconfig.yaml"
    outside.parent.mkdir()
    outside.write_text(f"mode: plain\n{OUTSIDE_CANARY}: token\n")
    (ctx.source / ".fleet-handshake.yaml").symlink_to(outside)
    ctx.canaries.append(OUTSIDE_CANARY)


@prepare
def config_dangling_symlink(ctx: Context) -> None:
    (ctx.source / ".fleet-handshake.yaml").symlink_to("config/moved-away.yaml")


@prepare
def secret_over_1mib(ctx: Context) -> None:
    big = (CANARY_ALPHA + "-") * (1_100_000 // (len(CANARY_ALPHA) + 1))
    ctx.repo.encrypted("secrets/alpha.yaml", alpha_secret(big))


def _flip_inside(text: str, pattern: str) -> str:
    """Change one base64 character inside the first match of `pattern` (a group)."""
    match = re.search(pattern, text)
    assert match is not None, pattern
    i = match.start(1) + len(match.group(1)) // 2
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]


@prepare
def tampered_value(ctx: Context) -> None:
    path = ctx.source / "secrets" / "alpha.yaml"
    path.write_text(_flip_inside(path.read_text(), r"password: ENC\[AES256_GCM,data:([^,]+),"))


@prepare
def tampered_mac(ctx: Context) -> None:
    path = ctx.source / "secrets" / "alpha.yaml"
    path.write_text(_flip_inside(path.read_text(), r"mac: ENC\[AES256_GCM,data:([^,]+),"))


@prepare
def swapped_values(ctx: Context) -> None:
    """Two encrypted values swapped between keys: each is authentic, but not for that key."""
    path = ctx.source / "secrets" / "alpha.yaml"
    text = path.read_text()
    pw = re.search(r"password: (ENC\[[^\]]+\])", text)
    pin = re.search(r"pin: (ENC\[[^\]]+\])", text)
    assert pw is not None and pin is not None
    text = text.replace(pw.group(1), "@PW@").replace(pin.group(1), pw.group(1)).replace("@PW@", pin.group(1))
    path.write_text(text)


@prepare
def encrypted_for_nobody_present(ctx: Context) -> None:
    stranger = make_age_key(ctx.tmp, "stranger")
    ctx.repo.encrypted("secrets/alpha.yaml", alpha_secret(NEW_ALPHA), recipients=(stranger.recipient,))
    ctx.canaries.append(NEW_ALPHA)


@prepare
def not_base64_data(ctx: Context) -> None:
    bad = f"{NEW_ALPHA} is not base64!"
    ctx.repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", data={"password": bad}))
    ctx.canaries.append(NEW_ALPHA)


@prepare
def non_string_value(ctx: Context) -> None:
    ctx.repo.write(
        "secrets/alpha.yaml",
        sops_encrypt(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: alpha-secret, namespace: default}\n"
            f"stringData: {{port: 5432, enabled: true, password: {NEW_ALPHA}}}\n",
            ctx.base.key.recipient,
        ),
    )
    ctx.canaries.append(NEW_ALPHA)


@prepare
def sops_crashes(ctx: Context) -> None:
    _new_alpha(ctx)
    ctx.vars["sops"] = _script(ctx, "sops-segv", "kill -SEGV $$\n")


@prepare
def sops_noisy_failure(ctx: Context) -> None:
    """A sops that fails and prints a value on both streams: neither may be passed on."""
    _new_alpha(ctx)
    ctx.vars["sops"] = _script(
        ctx, "sops-noisy", f"echo 'password: {NOISY_CANARY}'\necho 'error near {NOISY_CANARY}' >&2\nexit 25\n"
    )
    ctx.canaries.append(NOISY_CANARY)


@prepare
def sops_prints_garbage(ctx: Context) -> None:
    _new_alpha(ctx)
    ctx.vars["sops"] = _script(ctx, "sops-garbage", f"printf 'k: [unclosed {NOISY_CANARY}\\n'\nexit 0\n")
    ctx.canaries.append(NOISY_CANARY)


@prepare
def output_is_a_file(ctx: Context) -> None:
    for child in sorted(ctx.out.rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    ctx.out.rmdir()
    ctx.out.write_text("not a folder\n")


@prepare
def output_bundle_is_a_symlink(ctx: Context) -> None:
    """A bundle folder of OUT replaced by a link to a folder outside: the link must not be followed."""
    victim = ctx.tmp / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("untouched\n")
    bundle = next(p for p in (ctx.out / "fleet-default").iterdir() if p.name.startswith("alpha-"))
    for child in bundle.iterdir():
        child.unlink()
    bundle.rmdir()
    bundle.symlink_to(victim, target_is_directory=True)

    def victim_untouched(_: Result) -> None:
        assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
        assert (victim / "keep.txt").read_text() == "untouched\n"

    ctx.after.append(victim_untouched)


@prepare
def corrupt_state(ctx: Context) -> None:
    truncated = '{"format":"fleet-handshake-state/v2","mac":"0","state":{"handshakes": ['
    (ctx.out / ".fleet-handshake" / "state.json").write_text(truncated)


@prepare
def foreign_files_in_output(ctx: Context) -> None:
    (ctx.out / "README.md").write_text("written by a person\n")
    (ctx.out / "fleet-default" / "notes.yaml").write_text("mine: true\n")
    other = ctx.out / "fleet-default" / "hand-made"
    other.mkdir()
    (other / "fleet.yaml").write_text("namespace: apps\n")


@prepare
def yaml_tag_runs_nothing(ctx: Context) -> None:
    def nothing_ran(_: Result) -> None:
        assert not (ctx.tmp / "pwned-by-yaml").exists()

    ctx.after.append(nothing_ran)


@prepare
def output_unwritable(ctx: Context) -> None:
    _new_alpha(ctx)


@prepare
def disk_full(ctx: Context) -> None:
    _new_alpha(ctx)


@prepare
def foreign_entries_changing_run(ctx: Context) -> None:
    victim = ctx.tmp / "victim.txt"
    victim.write_text("untouched\n")
    (ctx.out / "link-out").symlink_to(victim)
    (ctx.out / "link-in").symlink_to("fleet-default")
    (ctx.out / "empty").mkdir()
    os.mkfifo(ctx.out / "pipe")
    bundle = next(p for p in (ctx.out / "fleet-default").iterdir() if p.name.startswith("alpha-"))
    (bundle / "extra.txt").write_text("someone else's\n")
    (bundle / "sub").mkdir()
    (bundle / "sub" / "more.yaml").write_text("mine: true\n")
    (ctx.out / ".fleet-handshake" / "state.json").unlink()  # the run must write

    def kept(result: Result) -> None:
        assert "wrote" in result.stderr, result.stderr
        assert victim.read_text() == "untouched\n"
        assert (ctx.out / "empty").is_dir() and not any((ctx.out / "empty").iterdir())
        assert stat.S_ISFIFO((ctx.out / "pipe").lstat().st_mode)
        assert os.readlink(ctx.out / "link-out") == str(victim)

    ctx.after.append(kept)


@prepare
def data_broken_over_lines(ctx: Context) -> None:
    encoded = base64.b64encode(NEW_ALPHA.encode()).decode()
    broken = "\r\n".join(encoded[i : i + 8] for i in range(0, len(encoded), 8)) + "\n"
    ctx.repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", data={"password": broken}))
    ctx.canaries.append(NEW_ALPHA)

    def one_line(_: Result) -> None:
        (bundle,) = (p for p in (ctx.out / "fleet-default").iterdir() if p.name.startswith("alpha-"))
        assert f'"password": "{encoded}"\n' in (bundle / "secret.yaml").read_text()

    ctx.after.append(one_line)


@prepare
def output_link_with_stale_staging(ctx: Context) -> None:
    real = ctx.tmp / "elsewhere" / "real-out"
    real.parent.mkdir()
    ctx.out.rename(real)
    ctx.out.symlink_to(real, target_is_directory=True)
    stale = real.parent / ".real-out.fh-staging-0123456789ab"  # a killed run's
    stale.mkdir()

    def removed(_: Result) -> None:
        assert not stale.exists()

    ctx.after.append(removed)


@prepare
def output_mode_kept(ctx: Context) -> None:
    ctx.out.chmod(0o750)
    _new_alpha(ctx)

    def kept(_: Result) -> None:
        assert stat.S_IMODE(ctx.out.stat().st_mode) == 0o750

    ctx.after.append(kept)
