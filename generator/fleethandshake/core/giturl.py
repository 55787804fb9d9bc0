"""Which repository URLs a Fleet GitRepo can clone from (`spec.repo`).

The CRD asks only for a non-empty string; Fleet's controller and its git cloner read it with
pkg/git-urls (Fleet v0.14 to v0.16): a URL whose scheme is one of TRANSPORTS, else an scp-like
`[user@]host:path` (the expression below is Fleet's `scpSyntax`, up to 2048 characters). Anything
else (a local path, `file://`, a bare name) fails in the cluster, long after the manifest was
applied; a URL without a host parses there and fails at the clone.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

TRANSPORTS = ("ssh", "git", "git+ssh", "http", "https")
_SCHEME_URL = re.compile(r"[^:]+://")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_SCP = re.compile(r"([a-zA-Z0-9._~-]+@)?([a-zA-Z0-9._-]+):([a-zA-Z0-9./_-]+)(.*)")
MAX_SCP = 2048
CREDENTIALS = "holds credentials; put them in a Secret on the management cluster and name it with --client-secret"
EXAMPLES = "https://HOST/ORG/REPO.git, ssh://git@HOST/ORG/REPO.git or git@HOST:ORG/REPO.git"


def repo_url_problem(url: str) -> str | None:
    """Why Fleet cannot clone from `url`, or None. Never repeats the URL: it may hold a token."""
    if not url.strip():
        return "is empty"
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in url):
        return "holds white space or control characters"
    if _SCHEME_URL.match(url):
        scheme = url.split(":", 1)[0].lower()
        if scheme not in TRANSPORTS:
            named = f"a {scheme}://" if _SCHEME.fullmatch(scheme) else "not a"  # never echo `token@host`
            return f"is {named} URL; Fleet clones over {', '.join(TRANSPORTS)} only"
        try:
            parts = urlsplit(url)
            has_host = bool(parts.hostname) and (parts.port is None or parts.port >= 0)
        except ValueError:  # a bad port or IPv6 address
            return "is not a valid URL (its host or port)"
        if parts.password is not None or (scheme.startswith("http") and parts.username is not None):
            # It would sit in the GitRepo for everyone who can read it, and in this command's output.
            return CREDENTIALS
        return None if has_host else "names no host"
    scheme = url.split(":", 1)[0]
    if _SCHEME.fullmatch(scheme) and scheme.lower() in TRANSPORTS:
        return "names no host (a URL needs `//` after its scheme)"  # Fleet reads `https:x` as such a URL
    scp = _SCP.fullmatch(url) if len(url) <= MAX_SCP else None
    if scp is None:
        return "is neither a URL nor an scp-like user@host:path"
    if scp.group(1) is None and scp.group(4).startswith("@"):  # user:password@host:path, read as host:path
        return CREDENTIALS
    return None


# What `git check-ref-format --branch` refuses in a name (besides control characters).
_BRANCH_CHARACTERS = frozenset(" ~^:?*[\\")


def branch_problem(branch: str) -> str | None:
    """Why `branch` is no branch name git accepts (`git check-ref-format --branch`, and not
    `HEAD`), or None: checked before git or Fleet sees it, so it fails with a clear message."""
    if not branch:
        return "is empty"
    if any(ord(c) < 0x20 or c == "\x7f" or c in _BRANCH_CHARACTERS for c in branch):
        return "holds a character git refuses in a branch name (white space, control characters or ~^:?*[\\)"
    parts = branch.split("/")
    if (
        branch == "HEAD"
        or branch.startswith("-")
        or ".." in branch
        or "@{" in branch
        or branch.endswith(".")
        or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)
    ):
        return "is not a branch name git accepts (see `git check-ref-format --branch`)"
    return None
