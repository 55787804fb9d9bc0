"""gitrepo's --repo check: what Fleet's GitRepo can clone from.

The first cases are those of Fleet's own parser test (rancher/fleet v0.16.0,
pkg/git-urls/urls_test.go, TestParse), with Fleet's verdict; the rest are what a user might type.
"""

from __future__ import annotations

import pytest

from fleethandshake.core.giturl import repo_url_problem

FLEETS_CASES = [
    ("http://foo.bar/baz", None),
    ("https://foo.bar/baz", None),
    ("ssh://foo.bar/baz", None),
    ("git://foo.bar/baz", None),
    ("git+ssh://foo.bar/baz", None),
    ("git@github.com:rancher/fleet", None),
    ("ftp://foo.bar/baz", "is a ftp:// URL; Fleet clones over ssh, git, git+ssh, http, https only"),
    ("git@github.com/" + "foo/" * 512, "is neither a URL nor an scp-like user@host:path"),
    ("foo", "is neither a URL nor an scp-like user@host:path"),
]
CREDENTIALS = "holds credentials; put them in a Secret on the management cluster and name it with --client-secret"
OURS = [
    ("https://github.com/org/bundles.git", None),
    ("HTTPS://github.com/org/bundles.git", None),  # Go lower-cases the scheme
    ("ssh://git@github.com:22/org/bundles.git", None),
    ("github.com:org/bundles.git", None),
    ("x", "is neither a URL nor an scp-like user@host:path"),
    ("/srv/git/bundles.git", "is neither a URL nor an scp-like user@host:path"),
    ("../bundles", "is neither a URL nor an scp-like user@host:path"),
    ("file:///srv/git/bundles.git", "is a file:// URL; Fleet clones over ssh, git, git+ssh, http, https only"),
    ("https:///org/bundles.git", "names no host"),
    ("https:github.com/org/bundles.git", "names no host (a URL needs `//` after its scheme)"),
    ("ssh://git@github.com:port/org/bundles.git", "is not a valid URL (its host or port)"),
    ("", "is empty"),
    ("https://github.com/org/my bundles.git", "holds white space or control characters"),
    ("https://github.com/org/b.git\n", "holds white space or control characters"),
    # Fleet takes these, but the manifest would carry the credentials for all to read: refused.
    ("https://fleet-ci:foo@git.example.invalid:8080/repo", CREDENTIALS),
    ("https://ghp_token@github.com/org/bundles.git", CREDENTIALS),
    ("ssh://git:pw@github.com/org/bundles.git", CREDENTIALS),
    ("fleet-ci:ghp_token@github.com:org/bundles.git", CREDENTIALS),  # scp-like with a password
]


@pytest.mark.parametrize(("url", "problem"), FLEETS_CASES + OURS)
def test_repo_url_problem(url: str, problem: str | None) -> None:
    assert repo_url_problem(url) == problem


def test_no_problem_repeats_the_url() -> None:
    for url, problem in FLEETS_CASES + OURS:
        assert problem is None or not url or url not in problem


def test_a_scheme_that_is_not_one_is_not_repeated() -> None:
    """Everything before `://` is quoted as the scheme only when it is one: `token@host://...`
    would otherwise put the token into the error."""
    problem = repo_url_problem("ghp_SECRETTOKEN@github.com://org/repo.git")
    assert problem is not None and "SECRETTOKEN".lower() not in problem.lower()
    assert (
        repo_url_problem("ftp://host/repo.git")
        == "is a ftp:// URL; Fleet clones over ssh, git, git+ssh, http, https only"
    )
