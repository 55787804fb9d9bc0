"""Git through GitPython: read a folder at a ref, commit, fetch and push without force."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import git

from ..core import provenance
from ..core.provenance import COMMIT_TRAILER, DIGEST_TRAILER, Provenance, Relation
from ..errors import UsageError, UserError

_SAFE_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
# What git says when someone else pushed first (or is pushing right now).
_RACE_MARKERS = ("[rejected]", "fetch first", "non-fast-forward", "cannot lock ref", "failed to update ref")


def open_repo(path: Path) -> git.Repo:
    probe = path.resolve()
    while not probe.exists():
        probe = probe.parent
    try:
        return git.Repo(probe, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(f"{path} is not inside a git repository") from None


def relative(repo: git.Repo, path: Path) -> str:
    root = Path(str(repo.working_tree_dir)).resolve()
    try:
        rel = path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise UserError(f"{path} is not inside the git work tree {root}") from None
    if rel in ("", "."):
        raise UsageError("the output folder must be a folder inside the repository, not its root")
    return rel


def read_tree_at(path: Path, ref: str) -> dict[str, bytes]:
    """Files under `path` as they were at `ref` (empty if the folder did not exist then)."""
    repo = open_repo(path)
    rel = relative(repo, path)
    try:
        commit = repo.commit(ref)
    except (git.BadName, git.BadObject, ValueError, KeyError, IndexError):  # GitPython's rev-parse raises them all
        raise UserError(f"git ref not found: {ref}") from None
    try:
        tree = commit.tree / rel
    except KeyError:
        return {}
    if not isinstance(tree, git.Tree):
        raise UserError(f"{rel} is not a folder at {ref}")
    out: dict[str, bytes] = {}
    for item in tree.traverse():
        if isinstance(item, git.Blob):
            out[str(item.path)[len(rel) + 1 :]] = item.data_stream.read()
    return out


def committed(path: Path) -> tuple[str, dict[str, bytes]] | None:
    """The commit HEAD of the repository holding folder `path`, and the files under `path` in
    that commit; None when `path` is not in a git work tree or the branch has no commit yet."""
    checkout = SourceCheckout.find(path)  # the work tree holding `path`, found as the source's is
    head = checkout.head() if checkout is not None else None
    return (head, read_tree_at(path, head)) if head is not None else None


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Identity:
        name, sep, rest = text.partition("<")
        if not sep or not rest.endswith(">") or not name.strip():
            raise UsageError(f"identity must look like 'Name <email>': {text!r}")
        return cls(name.strip(), rest[:-1].strip())


class PushRejected(Exception):
    """The remote moved on: fetch, regenerate on top, try again."""


class _Repository:
    """What publish asks of a repository's history, in the output's work tree or the source's."""

    repo: git.Repo

    def head(self) -> str | None:
        try:
            return self.repo.head.commit.hexsha
        except ValueError:  # unborn branch
            return None

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.repo.git.merge_base("--is-ancestor", older, newer)
            return True
        except git.GitCommandError:
            return False

    def is_shallow(self) -> bool:
        return bool(self.repo.git.rev_parse("--is-shallow-repository") == "true")


@dataclass
class Workspace(_Repository):
    """A work tree on the branch being published, and the output folder inside it."""

    repo: git.Repo
    rel: str
    branch: str
    remote: str | None

    @property
    def root(self) -> Path:
        return Path(str(self.repo.working_tree_dir))

    @property
    def out(self) -> Path:
        return self.root / self.rel

    def has_remotes(self) -> bool:
        """Whether the repository has any remote (one Fleet may read), whether pushed to or not."""
        return bool(self.repo.remotes)

    def fetch(self) -> str | None:
        """Fetch the branch; return the remote's head, or None if it has no such branch."""
        if self.remote is None:
            return None
        try:
            self.repo.git.fetch(self.remote, f"+refs/heads/{self.branch}:refs/remotes/{self.remote}/{self.branch}",
                                env=_SAFE_ENV)  # fmt: skip
        except git.GitCommandError as e:
            if "couldn't find remote ref" in str(e.stderr):
                return None
            raise UserError(f"git fetch from {self.remote} failed (exit {e.status})") from None
        return self.repo.commit(f"refs/remotes/{self.remote}/{self.branch}").hexsha

    def recorded(self, ref: str | None) -> Provenance | None:
        """What the newest fleet-handshake commit in `ref`'s history was generated from (None: no
        such commit). A shallow clone is deepened first rather than answer None too early."""
        if ref is None:
            return None
        fmt = f"--format=%H%x00%(trailers:key={COMMIT_TRAILER},valueonly)%x00%(trailers:key={DIGEST_TRAILER},valueonly)"
        while True:
            text = self.repo.git.log("-1", "-E", f"--grep=^{DIGEST_TRAILER}: ", fmt, ref, "--")
            if text:
                _, commit, digest = text.split("\0")
                return provenance.recorded(commit, digest)
            if self.remote is None or not self.is_shallow():
                return None
            try:
                self.repo.git.fetch("--quiet", "--unshallow", self.remote, env=_SAFE_ENV)
            except git.GitCommandError as e:
                raise UserError(f"git fetch --unshallow from {self.remote} failed (exit {e.status})") from None

    def move_to(self, sha: str) -> None:
        """Point the branch and the work tree at `sha` (callers check nothing is lost)."""
        self.repo.git.reset("--hard", sha)

    def dirty(self, inside: bool) -> list[str]:
        """Changed paths inside the output folder (untracked too), or tracked changes outside it."""
        if inside:
            return _changed_paths(self.repo, "--untracked-files=all", self.rel)
        return _changed_paths(self.repo, "--untracked-files=no", ".", f":!{self.rel}")

    def commit(self, message: str, author: Identity, committer: Identity) -> str | None:
        try:
            return self._commit(message, author, committer)
        except git.GitCommandError as e:  # commit.gpgsign without a usable key; OUT outside a sparse checkout
            raise UserError(f"git {e.command[1]} failed (exit {e.status}): {_reason(e)}; nothing was pushed, "
                            f"and {self.rel} holds the new output uncommitted") from None  # fmt: skip

    def _commit(self, message: str, author: Identity, committer: Identity) -> str | None:
        self.repo.git.add("--all", "--", self.rel)
        if not self.repo.git.diff("--cached", "--name-only", "--", self.rel) and self.head() is not None:
            return None
        if self.head() is None and not self.repo.git.ls_files("--", self.rel):
            return None
        env = {
            "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
        }  # fmt: skip
        self.repo.git.commit("--no-verify", "--quiet", "-m", message, "--", self.rel, env=env)
        return self.head()

    def not_committed_as_written(self, files: Iterable[str]) -> list[str]:
        """Of these files of OUT, those `commit` would not commit as written, each as `path (why)`:
        a file an ignore rule matches (`add --all` skips it), or one a configured filter driver
        (git-lfs, git-crypt) turns into something else. Fleet reads the commit, not the work tree."""
        paths = [f"{self.rel}/{f}" for f in files]
        if not paths:
            return []
        found = []
        fields = self._ask("check-ignore", "-z", "-v", "-n", "--stdin", paths=paths)
        for source, line, pattern, path in zip(*[iter(fields)] * 4, strict=False):
            if source and not pattern.startswith("!"):
                found.append(f"{path} (ignored: {source}:{line}: {pattern})")
        fields = self._ask("check-attr", "-z", "--stdin", "filter", paths=paths)
        drivers: dict[str, bool] = {}
        for path, _, value in zip(*[iter(fields)] * 3, strict=False):
            if value in ("unspecified", "unset", "set"):
                continue
            if value not in drivers:
                configured = self.repo.git.config("--get-regexp", rf"^filter\.{re.escape(value)}\.(clean|process)$",
                                                  with_exceptions=False)  # fmt: skip
                drivers[value] = bool(configured)
            if drivers[value]:
                found.append(f"{path} (filter={value} in .gitattributes)")
        return found

    def _ask(self, *args: str, paths: list[str]) -> list[str]:
        """A `git check-*` command over `paths` (on stdin: any number of them), its NUL-separated answer."""
        with tempfile.TemporaryFile() as stdin:  # paths only: no value is ever in it
            stdin.write(b"\0".join(p.encode() for p in paths) + b"\0")
            stdin.seek(0)
            status, out, _ = self.repo.git.execute(["git", *args], istream=stdin, with_extended_output=True,
                                                   with_exceptions=False, env=_SAFE_ENV)  # fmt: skip
        if status not in (0, 1):  # 1: none of them matched
            raise UserError(f"git {args[0]} failed (exit {status})")
        return str(out).split("\0")[:-1]

    def push(self) -> None:
        assert self.remote is not None
        try:
            self.repo.git.push("--porcelain", self.remote, f"HEAD:refs/heads/{self.branch}", env=_SAFE_ENV)
        except git.GitCommandError as e:
            text = f"{e.stdout}\n{e.stderr}"
            if any(marker in text for marker in _RACE_MARKERS):
                raise PushRejected() from None
            raise UserError(f"git push to {self.remote} failed (exit {e.status})") from None


def _reason(e: git.GitCommandError) -> str:
    """What git said, without its hints or the list of paths that may follow: its error and fatal
    lines, else its first sentence (the lines up to one that ends with a colon)."""
    lines = [line.strip() for line in str(e.stderr).strip().removeprefix("stderr: '").removesuffix("'").splitlines()]
    says = [line for line in lines if line.startswith(("error:", "fatal:"))]
    if not says:
        for line in lines:
            says.append(line)
            if line.endswith(":"):
                break
    return " ".join(says).rstrip(":") or "no reason given"


def _changed_paths(repo: git.Repo, untracked: str, *pathspec: str) -> list[str]:
    text = repo.git.status("--porcelain", "-z", untracked, "--", *pathspec)
    return sorted({entry[3:] for entry in text.split("\0") if len(entry) > 3})


class SourceCheckout(_Repository):
    """The git work tree that holds the source: its commit, its uncommitted changes, its history."""

    def __init__(self, repo: git.Repo) -> None:
        self.repo = repo
        self.root = Path(str(repo.working_tree_dir)).resolve()

    @classmethod
    def find(cls, src: Path) -> SourceCheckout | None:
        try:
            repo = git.Repo(src, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return None
        return cls(repo) if repo.working_tree_dir is not None else None

    def changes(self, src: Path, out: Path) -> list[str]:
        """Paths below `src` (relative to it) with uncommitted changes, untracked ones too, except OUT."""
        rel = src.resolve().relative_to(self.root).as_posix()
        spec = ["." if rel == "." else rel]
        if out.resolve().is_relative_to(self.root):
            spec.append(f":!{out.resolve().relative_to(self.root).as_posix()}")
        prefix = "" if rel == "." else rel + "/"
        paths = _changed_paths(self.repo, "--untracked-files=all", *spec)
        return [p[len(prefix) :] for p in paths if p.startswith(prefix)]

    def relation(self, ours: str, theirs: str) -> Relation:
        """How `ours` stands to `theirs`; a commit missing here is fetched from origin first."""
        if ours == theirs:
            return Relation.SAME
        if not self._has(theirs) and "origin" in [r.name for r in self.repo.remotes]:
            with contextlib.suppress(git.GitCommandError):  # unreachable or refused: MISSING says so
                self.repo.git.fetch("--quiet", "--no-tags", "origin", theirs, env=_SAFE_ENV)
        if not self._has(theirs):
            return Relation.MISSING
        if self.is_ancestor(theirs, ours):
            return Relation.NEWER
        if self.is_ancestor(ours, theirs):
            return Relation.OLDER
        return Relation.SHALLOW if self.is_shallow() else Relation.UNRELATED

    def _has(self, sha: str) -> bool:
        try:
            self.repo.git.cat_file("-e", f"{sha}^{{commit}}")
            return True
        except git.GitCommandError:
            return False


@contextlib.contextmanager
def workspace(out: Path, branch: str | None, remote: str | None) -> Iterator[Workspace]:
    """The work tree to publish from: OUT's own, or a temporary linked work tree for another branch."""
    repo = open_repo(out)
    rel = relative(repo, out)
    if remote is not None and remote not in [r.name for r in repo.remotes]:
        raise UsageError(f"no git remote named {remote!r} in {repo.working_tree_dir}")
    try:
        current: str | None = repo.active_branch.name
    except TypeError:  # detached HEAD
        current = None
    if branch is None or branch == current:
        if current is None:
            raise UsageError("HEAD is detached: name the branch to publish to with --branch")
        yield Workspace(repo, rel, current, remote)
        return
    with tempfile.TemporaryDirectory(prefix="fleet-handshake-worktree-", ignore_cleanup_errors=True) as tmp:
        path = Path(tmp) / "tree"
        try:
            repo.git.worktree("add", "--detach", "--quiet", str(path))
            linked = git.Repo(path)
            ws = Workspace(linked, rel, branch, remote)
            remote_head = ws.fetch()
            if remote_head is not None:
                linked.git.checkout("-B", branch, remote_head)
            elif branch in [h.name for h in repo.heads]:
                linked.git.checkout(branch)
            else:
                linked.git.checkout("--orphan", branch)
                linked.git.rm("-r", "-q", "-f", "--ignore-unmatch", ".")
            yield ws
        finally:
            with contextlib.suppress(git.GitCommandError):
                repo.git.worktree("remove", "--force", str(path))
