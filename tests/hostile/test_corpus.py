"""Every broken source of `cases/`: a clean error naming file and path, nothing lost, nothing leaked.

Each case starts from a valid source and the output tree generated from it. After the run:
the exit code is the one documented; stderr names the file and the YAML path; no traceback
(runs use --debug, so an unexpected exception would print one); no secret value in any form on
stdout, stderr, in OUT outside the Secret files, or in any file left in TMPDIR; the source is
untouched; no staging folder is left beside OUT; and OUT is unchanged byte for byte, or keeps
the bundles of every handshake that is not Synced.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import string
import time
from pathlib import Path

import pytest

from fhtest import beside_out, delivered, secret
from hostile import environments
from hostile.corpus import (
    DECRYPT_PATH_ENV,
    Baseline,
    Case,
    all_cases,
    bundles_only,
    run_tool,
    set_up,
    snapshot,
    staging_leftovers,
    statuses,
)
from hostile.leaks import find_leaks, scan_tree
from hostile.prepare import PREPARE

CASES = all_cases()
RUNS = [(case, path) for case in CASES for path in case.decrypt_paths]
ENVIRONMENTS = {"readonly-parent": environments.readonly_parent, "full-disk": environments.full_disk}
_OUT_PATH = re.compile(r"\.fleet-handshake/[a-z.]+|[a-z0-9-]+/[a-z0-9-]+/[a-z.]+")


def _skip_reason(case: Case) -> str | None:
    if case.environment is None:
        return None
    if case.environment == "readonly-parent" and os.geteuid() != 0:
        return None  # permission bits do the job
    reason = environments.namespaces()
    if reason is None:
        return None
    if case.environment == "readonly-parent":
        return f"running as root, where a 0o555 folder does not stop writes, and {reason}"
    return f"a small file system to fill needs a tmpfs mount, and {reason}"


def test_the_corpus_covers_what_the_issue_lists() -> None:
    names = {c.name for c in CASES}
    assert len(CASES) >= 30
    for needed in ("yaml-syntax", "duplicate-key", "alias-bomb", "deep-nesting", "over-size-limit", "binary",
                   "symlink-outside", "name-", "no-targets", "empty-target", "operator",
                   "duplicate-handshake", "duplicate-secret", "secret-over-1mib", "tampered-value", "tampered-mac",
                   "wrong-key", "encrypted-for-nobody", "unencrypted-secret", "sops-missing", "sops-crashes",
                   "output-is-a-file", "output-read-only", "output-disk-full", "no-handshakes", "misspelled-kind",
                   "list-export", "list-cleartext-secret"):  # fmt: skip
        assert any(needed in n for n in names), needed
    for case in CASES:
        assert case.prepare is None or case.prepare in PREPARE, case.name
        assert case.exit in (0, 1, 2), case.name
        assert set(case.decrypt_paths) <= set(DECRYPT_PATH_ENV), case.name
        assert case.exit == 0 or case.stderr, f"{case.name}: a failing case must name what it expects to read"


@pytest.mark.parametrize(
    ("case", "decrypt_path"),
    RUNS,
    ids=[c.name if p == "default" else f"{c.name}-{p}" for c, p in RUNS],
)
def test_hostile_case(case: Case, decrypt_path: str, baseline: Baseline, tmp_path: Path) -> None:
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    ctx = set_up(case, baseline, tmp_path)
    if case.prepare:
        PREPARE[case.prepare](ctx)
    before, source_before = snapshot(ctx.out), snapshot(ctx.source)
    args = [ctx.fill(a) for a in case.args]
    env = {**baseline.key_env(), "TMPDIR": str(ctx.tmpdir), **DECRYPT_PATH_ENV[decrypt_path]}
    env.update({k: ctx.fill(v) for k, v in case.env.items()})
    timeout = max(60.0, 2 * case.seconds)
    if case.environment:
        result = ENVIRONMENTS[case.environment](ctx, args, env, timeout)
    else:
        result = run_tool(args, env=env, cwd=ctx.tmp, timeout=timeout, memory_mb=case.memory_mb)
    out = ctx.observed_out
    shown = f"exit {result.code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"

    assert "Traceback" not in result.stdout + result.stderr, shown
    leaks = find_leaks("stdout", result.stdout, ctx.canaries) + find_leaks("stderr", result.stderr, ctx.canaries)
    leaks += scan_tree(ctx.tmpdir, ctx.canaries)
    leaks += scan_tree(out, ctx.canaries, allowed=lambda p: p.name == "secret.yaml")
    assert not leaks, f"{leaks}\n{shown}"
    assert result.code == case.exit, shown
    missing = [f for f in case.stderr if f not in result.stderr]
    assert not missing, f"stderr lacks {missing}\n{shown}"
    assert all(f in result.stdout for f in case.stdout), shown
    assert result.seconds < case.seconds, f"took {result.seconds:.1f} s"

    assert snapshot(ctx.source) == source_before, "the source was changed"
    if out.is_dir() or out.is_file():
        assert staging_leftovers(out) == []
    assert beside_out(out) == [], "something was left beside OUT"

    after = snapshot(out)
    if case.output == "unchanged":
        assert after == before, _diff(before, after)
    elif case.output == "bundles-kept":
        assert bundles_only(after) == bundles_only(before), _diff(bundles_only(before), bundles_only(after))
    elif case.output == "baseline":
        expected = snapshot(baseline.out)
        assert after == expected, _diff(expected, after)
    else:
        stray = [p for p in after if not _OUT_PATH.fullmatch(p)]
        assert not stray, f"unexpected paths in OUT: {stray}"
    if case.status:
        got = statuses(out)
        assert {k: got.get(k) for k in case.status} == case.status, result.stderr
    for check in ctx.after:
        check(result)


def _diff(expected: dict[str, bytes], got: dict[str, bytes]) -> str:
    changed = sorted(p for p in set(expected) | set(got) if expected.get(p) != got.get(p))
    return f"OUT differs in: {changed}"


def test_a_hanging_sops_is_given_up_after_its_timeout(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sops that never returns: Error for that handshake after the timeout, the others Synced.

    There is no option or environment variable for the timeout (adapters/settings.py DEFAULT_SOPS_TIMEOUT,
    60 s), so this runs in-process with a decryptor whose timeout is 1 s.
    """
    from fleethandshake.adapters.sops import decrypt as sops
    from fleethandshake.app.generate import generate

    class QuickDecryptor(sops.SopsDecryptor):
        def __init__(self, binary: str, *args: object, **kwargs: object) -> None:
            super().__init__(binary, *args, **kwargs)  # type: ignore[arg-type]
            self.timeout = 1.0

    case = Case(name="sops-hangs", folder=tmp_path / "no-overlay", about="", exit=1, stderr=[], output="bundles-kept")
    ctx = set_up(case, baseline, tmp_path)
    PREPARE["sops_crashes"](ctx)  # alpha changed, so that it must be decrypted
    hang = ctx.tmp / "sops-hangs"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    hang.chmod(0o755)
    for name, value in {**baseline.key_env(), **DECRYPT_PATH_ENV["binary"]}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sops, "SopsDecryptor", QuickDecryptor)
    before = bundles_only(snapshot(ctx.out))
    said: list[str] = []

    start = time.monotonic()
    result = generate(ctx.source, ctx.out, sops_binary=str(hang), say=said.append)

    assert time.monotonic() - start < 60  # given up at its timeout: sops alone would take 600 s
    assert result.exit_code == 1
    assert statuses(ctx.out) == {"alpha": "Error", "bravo": "Synced"}
    messages = {c.name: c.message for c in result.composition.changes}
    assert "sops did not finish within 1 s" in messages["alpha"]
    assert bundles_only(snapshot(ctx.out)) == before
    assert not find_leaks("said", "\n".join(said), ctx.canaries)


@pytest.mark.parametrize(("size", "synced"), [(900_000, True), (1_047_000, False)])
def test_fleets_gzip_limit_is_checked_in_plain_mode(
    baseline: Baseline, tmp_path: Path, size: int, synced: bool
) -> None:
    """Text that compresses worst, written as base64 `data`: a bundle that gzips under 1 MB is Synced;
    a larger one (still within the API server's 1 MiB) is a clean Error that keeps the old bundle, never
    a Synced bundle Fleet cannot store."""
    rng = random.Random(1)
    alphabet = [c for c in string.ascii_letters + string.digits + string.punctuation if c not in "'\"\\#:"]
    value = "".join(rng.choice(alphabet) for _ in range(size))
    case = Case(name="gzip", folder=tmp_path / "no-overlay", about="", exit=0, stderr=[], output="written")
    ctx = set_up(case, baseline, tmp_path)
    before = snapshot(ctx.out)
    ctx.repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", stringData={"password": value}))

    result = run_tool(["generate", str(ctx.source), "--out", str(ctx.out)], env=baseline.key_env(), cwd=tmp_path)

    (bundle,) = (p for p in (ctx.out / "fleet-default").iterdir() if p.name.startswith("alpha-"))
    content = b"".join((bundle / name).read_bytes() for name in sorted(os.listdir(bundle)))
    if not synced:
        assert result.code == 1
        assert "bytes a Fleet bundle can hold" in result.stderr
        assert {p: c for p, c in snapshot(ctx.out).items() if "/alpha-" in p} == {
            p: c for p, c in before.items() if "/alpha-" in p
        }
        return
    assert result.code == 0, result.stderr
    assert len(content) > 1_150_000
    assert delivered(bundle / "secret.yaml")["password"] == value
    assert len(gzip.compress(content, compresslevel=9)) < 1_000_000
