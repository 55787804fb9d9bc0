"""`fleet-handshake import SOURCE`: the FleetHandshakes of a cluster (or of an export) and the
Secrets they reference, into SOURCE; every Secret encrypted by sops under SOURCE's `.sops.yaml`.

Clear text never touches the disk: Secrets are read into memory (from the API or the export
file), piped into sops, and only sops's ciphertext is written. Everything is read, checked and
encrypted before the first file is written; then the Secrets are written before the handshakes
that need them, each file atomically and never over an existing one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..adapters.fs.newfile import write_new
from ..adapters.sops.decrypt import find_binary
from ..adapters.sops.rules import SOPS_CONFIG_FILE, encrypt_as
from ..core.importing import SecretRef, found_objects, pair
from ..core.importplan import ImportPlan, check_all, plan_import, yaml_bytes
from ..core.models import API_VERSION, DEFAULT_WORKSPACE, KIND
from ..core.yaml.reader import YamlError, parse_documents
from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InvalidInputs, UsageError, UserError
from . import source as source_loader

EXPORT_COMMAND = "kubectl get fleethandshakes,secrets -A -o yaml"


def run(
    src: Path,
    *,
    from_file: Path | None,
    namespace: str | None,
    context: str | None,
    kubeconfig: str | None,
    sops_binary: str | None,
    allow_missing: bool,
    quiet: bool,
) -> int:
    root = src.resolve()
    if not root.is_dir():
        raise UsageError(f"SOURCE is not a folder: {src}")
    config = root / SOPS_CONFIG_FILE
    if not config.is_file():
        raise UsageError(
            f"{src} has no {SOPS_CONFIG_FILE}: import encrypts every Secret with sops under SOURCE's creation rules;"
            r" create one, for example with `path_regex: secrets/.*\.yaml$`, `encrypted_regex: ^(data|stringData)$`"
            " and your keys; nothing was written"
        )
    written: list[tuple[str, str]] = []  # filled as files are written: an interrupt names them
    try:
        binary = find_binary(sops_binary)
        existing = source_loader.load(root, None, records=False).source  # SOURCE must be valid to start with
        if from_file is not None:
            handshakes, secrets = _from_file(from_file, namespace)
            origin = str(from_file)
        else:
            handshakes, secrets, origin = _from_cluster(namespace, context, kubeconfig)
        entries, refused = pair(handshakes, secrets)
        taken = {p for e in entries for p in (e.path, e.secret_path) if os.path.lexists(root / p)}
        plan = plan_import(entries, refused, existing, taken, allow_missing=allow_missing)
        encrypted = {path: encrypt_as(binary, config, root / path, yaml_bytes(doc))
                     for path, doc in plan.secrets.items()}  # fmt: skip
        problems = check_all(existing, plan, encrypted)
        if problems:
            raise InvalidInputs(problems)  # nothing written yet
        _write(root, plan, encrypted, written)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI's handler raises it)
        _interrupted(written)
        return EXIT_INTERRUPTED
    _report(plan, written, origin, len(handshakes), quiet, from_file is not None)
    return EXIT_FAILED if plan.not_imported else EXIT_OK


def _interrupted(written: list[tuple[str, str]]) -> None:
    """What an interrupted import wrote into SOURCE, and that running it again finishes it."""
    for word, text in written:
        print(f"{word:<8} {text}", file=sys.stderr)
    count = sum(1 for word, _ in written if word == "wrote")
    if not count:
        print("fleet-handshake: interrupted; nothing was written into SOURCE", file=sys.stderr)
        return
    print(f"fleet-handshake: interrupted after writing {count} file(s) into SOURCE, listed above (sops ciphertext"
          " and handshakes; each Secret before the handshakes that need it); run the same import again to"
          " finish: it keeps them and writes the rest", file=sys.stderr)  # fmt: skip


def _from_file(path: Path, namespace: str | None) -> tuple[list[dict[str, Any]], dict[SecretRef, dict[str, Any]]]:
    try:
        content = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path} ({e.strerror})") from None
    try:
        docs = parse_documents(content)  # a message names a line, never text of the file
    except YamlError as e:
        where = f":{e.line}" if e.line else ""
        raise UserError(f"{path}{where}: {e.message}") from None
    handshakes, secrets = found_objects(d.data for d in docs)
    return _in_namespace(handshakes, namespace), secrets


def _from_cluster(
    namespace: str | None, context: str | None, kubeconfig: str | None
) -> tuple[list[dict[str, Any]], dict[SecretRef, dict[str, Any]], str]:
    from ..adapters.kuberead import ClusterReader

    reader = ClusterReader(context, kubeconfig)
    handshakes = [{"apiVersion": API_VERSION, "kind": KIND, **h} for h in reader.handshakes(namespace)]
    secrets: dict[SecretRef, dict[str, Any]] = {}
    entries, _ = pair(handshakes, {})  # only handshakes with valid names: no odd name reaches a URL
    for ref in sorted({e.secret_ref for e in entries}):
        found = reader.secret(*ref)
        if found is not None:
            secrets[ref] = found
    return handshakes, secrets, f"the Kubernetes API at {reader.host}"


def _in_namespace(handshakes: list[dict[str, Any]], namespace: str | None) -> list[dict[str, Any]]:
    if namespace is None:
        return handshakes
    return [h for h in handshakes if ((h.get("metadata") or {}).get("namespace") or DEFAULT_WORKSPACE) == namespace]


def _write(root: Path, plan: ImportPlan, encrypted: dict[str, bytes], written: list[tuple[str, str]]) -> None:
    """Secrets first, then the handshakes: an interrupted import leaves no handshake without its
    Secret. What was written (or kept) goes into `written` as it happens."""
    for path, content in [*sorted(encrypted.items()), *sorted(plan.handshake_files.items())]:
        if write_new(root / path, content):
            written.append(("wrote", path + ("  (encrypted by sops)" if path in encrypted else "")))
        else:  # created by someone else since the check
            written.append(("kept", f"{path}: the file appeared meanwhile; left as it is"))
            plan.not_imported += 1


def _report(
    plan: ImportPlan, written: list[tuple[str, str]], origin: str, found: int, quiet: bool, from_file: bool
) -> None:
    lines = written + plan.report
    shown = lines if not quiet else [(w, t) for w, t in lines if w in ("missing", "skipped")]
    for word, text in shown:
        print(f"{word:<8} {text}", file=sys.stderr)
    if any(w == "missing" for w, _ in plan.report) and from_file:
        print(f"hint: the export must hold the Secrets too: {EXPORT_COMMAND}", file=sys.stderr)
    if not quiet:
        imported = len(plan.handshake_files)
        print(
            f"imported {imported} of {found} handshake(s) from {origin} and {len(plan.secrets)} Secret(s);"
            " next: fleet-handshake validate SOURCE, then generate",
            file=sys.stderr,
        )
