"""Which bundles a handshake has, what each one's name is made of, and that no two share a folder."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import Problem
from . import names
from .models import Handshake, Target, item_path


@dataclass(frozen=True)
class Bundle:
    workspace: str
    name: str
    handshake: str
    target_index: int
    target: Target

    @property
    def path(self) -> str:
        return f"{self.workspace}/{self.name}"


def bundle_identity(handshake: Handshake, target: Target, mode: str) -> str:
    """Everything whose change must give a new Fleet bundle, not the same one changed in place.

    Fleet keeps a bundle's name for its BundleDeployments and Helm releases. Under the same name a
    new `targetNamespace` makes the agent's clean-up of the old release delete the Secret copy in
    the new namespace too (downstream mode), a new delivery mode swaps what the release holds, and
    a new Secret name leaves the old downstream copy behind: each gets a bundle of its own. The
    target counts whole (name and criteria); its position does not, so reordering renames nothing.
    """
    parts = [handshake.workspace, handshake.name, target.to_dict(), handshake.target_namespace,
             handshake.secret_name, mode]  # fmt: skip
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def bundles_for(handshake: Handshake, mode: str) -> list[Bundle]:
    """One bundle per target that deploys (`doNotDeploy` targets have none), in target order."""
    return [
        Bundle(
            handshake.workspace,
            names.bundle_name(handshake.name, target.name or "", bundle_identity(handshake, target, mode)),
            handshake.name,
            index,
            target,
        )
        for index, target in enumerate(handshake.targets)
        if not target.do_not_deploy
    ]


def folder_clashes(handshakes: Iterable[tuple[Handshake, str]]) -> list[Problem]:
    """A problem for every bundle folder that two bundles would share (handshake, mode pairs).

    Names carry a 64-bit digest, so this takes a digest collision, found by chance or on
    purpose; either way one folder would hold one handshake's Secret under another's name.
    """
    first: dict[str, tuple[Handshake, Bundle]] = {}
    problems = []
    for hs, mode in handshakes:
        for bundle in bundles_for(hs, mode):
            owner, other = first.setdefault(bundle.path, (hs, bundle))
            if other is bundle:
                continue
            if owner is hs:
                what = f"spec.targets[{other.target_index}] of the same handshake"
            else:
                where = f"document {owner.document}" + ("" if owner.item is None else f", items[{owner.item}]")
                what = f"handshake {owner.ref} ({owner.file}, {where})"
            problems.append(Problem(hs.file, hs.document, item_path(hs.item, f"spec.targets[{bundle.target_index}]"),
                                    f"its bundle folder {bundle.path} is also the folder of {what}: rename "
                                    "one of the two handshakes or give the target a name"))  # fmt: skip
    return problems
