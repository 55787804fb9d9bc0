"""One bundle folder, one bundle: names that would put two handshakes (or two targets) into one
folder are refused, and composing never lets one handshake's files into another's folder.

Real collisions of a 64-bit digest cannot be found in a test: the digest is made a constant, so
the guard is what is tested, not SHA-256.
"""

from __future__ import annotations

import pytest

from fhtest import REPO
from fleethandshake.core import bundles, names, output, render
from fleethandshake.core.models import Handshake, PlainSecret, SecretValue, Status, Target
from fleethandshake.modes import modes

ENV = render.make_environment({p.name: p.read_text() for p in (REPO / "templates").glob("*.j2")})
SECRET = PlainSecret(name="db-creds", type="Opaque", data=(("password", SecretValue("czNjcmV0LVZxMg==")),))


def hs(name: str, *targets: Target, file: str = "hs.yaml", document: int = 0) -> Handshake:
    return Handshake("fleet-default", name, "db-creds", "default", "apps", targets, file, document)


@pytest.fixture
def constant_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(names, "identity_digest", lambda identity: "0" * names.DIGEST_LEN)


def test_digest_is_64_bits_of_the_identity() -> None:
    one, two = (bundles.bundles_for(hs("db", Target(cluster_name="c1")), mode)[0].name for mode in ("plain", "sops"))
    assert one.rsplit("-", 1)[1] != two.rsplit("-", 1)[1]
    assert all(len(name.rsplit("-", 1)[1]) == 16 for name in (one, two))


@pytest.mark.usefixtures("constant_digest")
def test_two_handshakes_in_one_folder_are_named_both() -> None:
    # "db" with target "eu" and "db-eu" with an unnamed target: the same readable name, and
    # (here) the same digest.
    first = hs("db", Target(name="eu", cluster_name="c1"), file="a.yaml", document=2)
    second = hs("db-eu", Target(cluster_name="c2"), file="b.yaml")
    problems = bundles.folder_clashes([(first, "plain"), (second, "plain")])
    assert len(problems) == 1
    (problem,) = problems
    assert (problem.file, problem.document, problem.path) == ("b.yaml", 0, "spec.targets[0]")
    assert "fleet-default/db-eu-0000000000000000" in problem.message
    assert "handshake fleet-default/db (a.yaml, document 2)" in problem.message


@pytest.mark.usefixtures("constant_digest")
def test_two_targets_of_one_handshake_in_one_folder_are_refused() -> None:
    both = hs("db", Target(cluster_name="c1"), Target(cluster_group="g1"))
    (problem,) = bundles.folder_clashes([(both, "plain")])
    assert problem.path == "spec.targets[1]"
    assert "spec.targets[0] of the same handshake" in problem.message


@pytest.mark.usefixtures("constant_digest")
def test_do_not_deploy_targets_have_no_folder_to_clash_with() -> None:
    assert bundles.folder_clashes([(hs("db", Target(cluster_name="c1"), Target(cluster_group="g", do_not_deploy=True)),
                                    "plain")]) == []  # fmt: skip


def test_distinct_identities_do_not_clash() -> None:
    handshakes = [(hs(f"db-{i}", Target(cluster_name="c1"), Target(cluster_group="g1")), "plain") for i in range(50)]
    assert bundles.folder_clashes(handshakes) == []


def test_a_synced_handshake_never_takes_a_folder_kept_for_another() -> None:
    """Handshake `b` (Missing) keeps its folder; `a`, Synced, now renders into that very folder.
    Whatever the order, the folder keeps b's files and `a` is Error naming b (before, a was
    reported Synced while its folder held b's Secret)."""
    owner = hs("b", Target(cluster_name="c1"))
    newcomer = hs("a", Target(cluster_name="c2"))
    before = output.compose(
        {}, [output.Outcome(owner, Status.SYNCED, "", modes()["plain"].render(ENV, owner, SECRET).files)]
    )
    (folder,) = before.changes[0].bundles
    theirs = {p: c for p, c in before.tree.items() if p.startswith(folder + "/")}
    mine = modes()["plain"].render(ENV, newcomer, SECRET).files
    (mine_folder,) = {p.rsplit("/", 1)[0] for p in mine}
    forged = {p.replace(mine_folder, folder): c for p, c in mine.items()}  # a as if its name collided
    outcomes = [output.Outcome(owner, Status.MISSING, "gone"), output.Outcome(newcomer, Status.SYNCED, "", forged)]
    for order in (outcomes, outcomes[::-1]):
        after = output.compose(before.tree, order)
        assert {p: c for p, c in after.tree.items() if p.startswith(folder + "/")} == theirs
        status = {c.name: (c.status, c.message) for c in after.changes}
        assert status["b"][0] is Status.MISSING
        assert status["a"][0] is Status.ERROR
        assert f"bundle folder {folder} is already used by handshake fleet-default/b" in status["a"][1]
