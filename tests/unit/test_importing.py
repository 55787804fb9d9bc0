"""import's pure parts: cleaning exported objects, pairing handshakes with Secrets, file names;
and the writer that never replaces a file."""

from __future__ import annotations

from pathlib import Path

import yaml

import importscene as scene
from fleethandshake.adapters.fs.newfile import write_new
from fleethandshake.core.importing import clean_handshake, clean_secret, found_objects, pair
from fleethandshake.core.models import SecretValue


def test_server_fields_status_and_last_applied_are_dropped_from_handshakes() -> None:
    exported = scene.handshakes()[0]
    cleaned = clean_handshake(exported)
    assert set(cleaned) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(cleaned["metadata"]) == {"name", "namespace", "labels"}
    mode = {"fleethandshake.riverpointtechnology.com/mode": "sops"}
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": "{}", **mode}
    kept = clean_handshake({**exported, "metadata": {**exported["metadata"], "annotations": annotations}})
    assert kept["metadata"]["annotations"] == mode


def test_a_secret_keeps_what_the_operator_delivered_and_its_values_are_redacted() -> None:
    exported = scene.secret_objects(scene.VALUES)[4]  # kubernetes.io/tls, labels, last-applied
    cleaned = clean_secret(exported)
    assert cleaned["metadata"] == {"name": "shop-tls", "namespace": "default"}
    assert cleaned["type"] == "kubernetes.io/tls"
    assert all(isinstance(v, SecretValue) for v in cleaned["data"].values())
    assert "tls-key" not in repr(cleaned) and "dGxzLWtleS" not in repr(cleaned)


def test_a_list_and_typed_lists_are_read_item_by_item() -> None:
    items = yaml.safe_load(scene.export())["items"]
    bare = {k: v for k, v in items[-1].items() if k not in ("kind", "apiVersion")}  # typed lists may omit them
    secret_list = {"apiVersion": "v1", "kind": "SecretList", "items": [bare]}
    handshakes, secrets = found_objects([{"apiVersion": "v1", "kind": "List", "items": items[:-1]}, secret_list])
    assert len(handshakes) == 6 and len(secrets) == 6
    assert ("default", "unrelated") in secrets


def test_pairs_are_sorted_and_name_their_files() -> None:
    secrets = scene.by_ref(scene.secret_objects(scene.VALUES))
    entries, refused = pair(scene.handshakes(), secrets)
    assert refused == []
    assert [e.ref for e in entries][:2] == [
        "fleet-default/fleethandshake-sample",
        "fleet-default/fleethandshake-test-only",
    ]
    registry = next(e for e in entries if e.name == "registry")
    assert (registry.path, registry.secret_path) == (
        "handshakes/fleet-local/registry.yaml",
        "secrets/default/registry.yaml",
    )
    entries, _ = pair(scene.handshakes(), {})
    assert all(e.secret is None for e in entries)


def test_a_name_that_would_leave_its_folder_is_refused() -> None:
    hs = scene.handshakes()[0]
    for field, bad in (("name", ".."), ("namespace", "../x")):
        broken = {**hs, "metadata": {**hs["metadata"], field: bad}}
        assert pair([broken], {})[0] == []
    spec = {**hs, "spec": {**hs["spec"], "secretName": "a/b"}}
    entries, refused = pair([spec], {})
    assert entries == [] and "spec.secretName" in refused[0].reason


def test_write_new_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "secrets" / "default" / "a.yaml"
    assert write_new(target, b"first\n") is True
    assert write_new(target, b"second\n") is False
    assert target.read_bytes() == b"first\n"
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "nowhere.yaml")
    assert write_new(link, b"x\n") is False and not (tmp_path / "nowhere.yaml").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.yaml"], "no temporary file left"
