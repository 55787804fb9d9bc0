"""The record of a publish's source, on a management Secret (core/provenance.py)."""

from fleethandshake.core import provenance as prov

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


def test_a_secret_reads_back_what_it_recorded() -> None:
    for recorded in (prov.Provenance(DIGEST, COMMIT), prov.Provenance(DIGEST)):
        assert prov.from_annotations(prov.as_annotations(recorded)) == recorded


def test_a_secret_without_a_record_orders_nothing() -> None:
    assert prov.from_annotations({}) is None
    assert prov.from_annotations({prov.COMMIT_ANNOTATION: COMMIT}) is None  # no digest: not ours


def test_a_commit_that_is_not_an_object_name_counts_as_none() -> None:
    """The value reaches `git fetch` as an argument: anyone who can annotate the Secret could write it."""
    hostile = {prov.COMMIT_ANNOTATION: "--upload-pack=touch /tmp/x", prov.DIGEST_ANNOTATION: DIGEST}
    assert prov.from_annotations(hostile) == prov.Provenance(DIGEST, None)
