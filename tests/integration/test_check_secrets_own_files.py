"""check-secrets skips only what fleet-handshake wrote: plain mode's clear-text Secret file in a
bundle folder that OUT's status.json, a valid status record, lists. A status.json that is empty,
not JSON or of another format makes nothing an output, and a clear-text Secret put by hand
anywhere in a real output (Fleet deploys every .yaml/.yml/.json of a bundle folder) is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_output_in_source import CANARY, CANARY_B64, generate_inside, make_source

from fhtest import AgeKey, run_cli, secret

LEAK = yaml.safe_dump(secret("leak", stringData={"k": CANARY}))
NOT_RECORDS = {
    "empty": b"",
    "empty-object": b"{}",
    "not-json": b"not json\n",
    # Lists the folder the leak is in, but is not of the format generate writes.
    "other-format": json.dumps({"apiVersion": "other/v1", "handshakes": [{"bundles": ["ws/b"]}]}).encode(),
    "no-handshakes": json.dumps({"apiVersion": "fleet-handshake/v1"}).encode(),
}


def refused(result_stderr: str, *names: str) -> None:
    for name in names:
        assert f"{name}:" in result_stderr, result_stderr
    assert CANARY not in result_stderr and CANARY_B64 not in result_stderr


@pytest.mark.parametrize("status", NOT_RECORDS.values(), ids=NOT_RECORDS.keys())
def test_a_status_file_that_is_not_a_record_skips_nothing(tmp_path: Path, status: bytes) -> None:
    (tmp_path / "d" / ".fleet-handshake").mkdir(parents=True)
    (tmp_path / "d" / ".fleet-handshake" / "status.json").write_bytes(status)
    (tmp_path / "d" / "leak.yaml").write_text(LEAK)
    (tmp_path / "d" / "ws" / "b").mkdir(parents=True)
    (tmp_path / "d" / "ws" / "b" / "secret.yaml").write_text(LEAK)  # where plain mode writes its own
    result = run_cli("check-secrets", tmp_path / "d" / "leak.yaml", tmp_path / "d" / "ws" / "b" / "secret.yaml")
    assert result.code == 1
    refused(result.stderr, str(tmp_path / "d" / "leak.yaml"), str(tmp_path / "d" / "ws" / "b" / "secret.yaml"))
    assert "status.json is not a status record fleet-handshake wrote" in result.stderr


def test_a_secret_put_by_hand_into_a_real_output_is_refused(tmp_path: Path, age_key: AgeKey) -> None:
    repo = make_source(tmp_path / "src", age_key)
    out = generate_inside(repo, age_key)
    [own] = list(out.rglob("secret.yaml"))  # plain mode's clear-text Secret, in its bundle folder
    bundle = own.parent
    assert json.loads((out / ".fleet-handshake" / "status.json").read_bytes())["handshakes"][0]["bundles"] == [
        f"{bundle.parent.name}/{bundle.name}"
    ]
    generated = [p for p in out.rglob("*") if p.is_file()]
    placed = [
        out / "leak.yaml",  # at OUT's root
        bundle / "extra.yaml",  # beside the tool's files: Fleet deploys it with the bundle
        bundle / "extra.json",
        bundle.parent / "by-hand" / "secret.yaml",  # the tool's file name, in a folder status.json does not list
        out / bundle.parent.name / "secret.yaml",  # not in a bundle folder
    ]
    for path in placed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LEAK)
    ok = run_cli("check-secrets", *generated)
    assert ok.code == 0, ok.stderr
    result = run_cli("check-secrets", *generated, *placed)
    assert result.code == 1
    refused(result.stderr, *map(str, placed))
    assert f"{own}:" not in result.stderr
    assert f"only the clear-text Secret files it wrote in the bundle folders {out}/.fleet-handshake" in result.stderr
    for path in placed:  # each refused on its own too
        alone = run_cli("check-secrets", path)
        assert alone.code == 1, path
        refused(alone.stderr, str(path))


def test_a_secret_file_beside_another_modes_file_is_not_the_tools_own(tmp_path: Path, age_key: AgeKey) -> None:
    """A sops-mode output (no clear text in git, by its promise): a clear-text `secret.yaml` put by
    hand into one of its bundle folders, beside the `sopssecret.yaml` fleet-handshake wrote, was
    skipped as plain mode's own file, so the hook let it be committed (and Fleet deploys it). The
    tool writes one mode's file per bundle folder: a plain-mode name beside another mode's file is
    someone else's, and checked."""
    repo = make_source(tmp_path / "src", age_key)
    repo.sops_mode(age_key)
    out = generate_inside(repo, age_key, sops=True)
    [sealed] = list(out.rglob("sopssecret.yaml"))
    placed = sealed.parent / "secret.yaml"
    placed.write_text(LEAK)

    result = run_cli("check-secrets", sealed, placed)

    assert result.code == 1
    refused(result.stderr, str(placed))
    assert f"{sealed}:" not in result.stderr
    assert run_cli("check-secrets", sealed).code == 0
