"""The repository root is a Fleet bundle that must install the FleetHandshake CRD and nothing else.

The helpers re-implement Fleet's content rules (rancher/fleet v0.16):
- internal/bundlereader/loaddirectory.go, GetContent and ignoreTree.isIgnored: every file below
  the bundle goes into the Bundle object except hidden files and folders and what `.fleetignore`
  (readFleetIgnore) ignores; resources.go ignoreApplyConfigs drops the root fleet.yaml.
- internal/helmdeployer/render/helm.go, manifests: only .yaml/.yml/.json files become objects,
  and none below a folder holding its own fleet.yaml or Chart.yaml.
- internal/cmd/cli/apply/apply.go, CreateBundles: the GitRepo scan makes every folder holding a
  fleet.yaml or fleet.yml a bundle of its own, whatever `.fleetignore` says.
"""

import fnmatch
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
CRD = "crds/fleethandshake-crd.yaml"
FLEET_YAMLS = ("fleet.yaml", "fleet.yml")
# isAllFilesInDirPattern: "^.+/\*" is not anchored at the end, then TrimSuffix("/*") is compared
# with the folder's base name, so "a/b/*" or "tests/*.yaml" never match anything.
DIR_PATTERN = re.compile(r".+/\*")
TRAILING_SPACE = re.compile(r"([^\\])\s+$")


def read_fleetignore(text: str) -> list[str]:
    """Patterns of a .fleetignore: trailing blanks trimmed, blank lines and '#' lines dropped."""
    lines = (TRAILING_SPACE.sub(r"\1", line) for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def is_ignored(name: str, is_dir: bool, patterns: Iterable[str]) -> bool:
    # fnmatchcase stands in for Go's filepath.Match on a base name. Go's '*' and '?' never match
    # '/', moot on base names. Go also reads "[^a]" as a negated class and '\' as an escape
    # (fnmatch: a literal '^' and '\'), and rejects a malformed pattern such as "[" with an error
    # that fails the whole bundle (fnmatch matches it literally). Our .fleetignore uses none.
    for pattern in patterns:
        if DIR_PATTERN.match(pattern):
            if is_dir and pattern.removesuffix("/*") == name:
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def bundle_content(root: Path, files: Iterable[str]) -> set[str]:
    """Files Fleet copies into the root bundle, from the repo's file list (POSIX, root-relative).

    A .fleetignore counts only if it is in `files`; its patterns apply to its own folder and every
    folder below. (Fleet finds a folder's node by a plain string prefix, so a nested tests/
    .fleetignore would also leak into a sibling tests2/; the root-only case here is unaffected.)
    """
    listed = set(files)
    content: set[str] = set()
    for path in listed:
        parts = PurePosixPath(path).parts
        patterns: list[str] = []
        for depth, name in enumerate(parts):
            ignore_file = "/".join((*parts[:depth], ".fleetignore"))
            if ignore_file in listed:
                patterns += read_fleetignore((root / ignore_file).read_text(encoding="utf-8"))
            if name.startswith(".") or is_ignored(name, depth < len(parts) - 1, patterns):
                break
        else:
            if path != "fleet.yaml":
                content.add(path)
    return content


def deployed(content: set[str]) -> set[str]:
    """The content files a raw-YAML bundle turns into Kubernetes objects."""
    nested = {
        f"{PurePosixPath(p).parent}/"
        for p in content
        if "/" in p and PurePosixPath(p).name in (*FLEET_YAMLS, "Chart.yaml")
    }
    return {
        p
        for p in content
        if p not in FLEET_YAMLS and p.endswith((".yaml", ".yml", ".json")) and not p.startswith(tuple(nested))
    }


def walk_files(root: Path) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [(Path(folder) / n).relative_to(root).as_posix() for n in names]
    return found


def repo_files(root: Path = REPO) -> list[str]:
    """What a clone would hold: tracked files plus untracked ones git does not ignore."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        out = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return walk_files(root)
    return [f for f in out.stdout.split("\0") if f and (root / f).is_file()]


def test_root_bundle_holds_only_the_crd() -> None:
    content = bundle_content(REPO, repo_files())
    assert deployed(content) == {CRD}
    # Fleet stores every file it takes in the Bundle object (limit about 1 MB), manifest or not.
    assert content == {CRD}, "add the extra files to .fleetignore"


def test_root_bundle_is_neither_helm_nor_kustomize() -> None:
    content = bundle_content(REPO, repo_files())
    assert not [p for p in content if "templates" in PurePosixPath(p).parts[:-1]]
    assert not [p for p in content if PurePosixPath(p).name in ("Chart.yaml", "kustomization.yaml")]


def test_no_nested_fleet_yaml() -> None:
    # The GitRepo scan ignores .fleetignore and hidden folders (only .git is skipped): a nested
    # fleet.yaml, e.g. in a golden output tree, would be deployed as a bundle of its own. One is
    # meant to be: examples/controller, the controller's install as a second bundle (a GitRepo
    # lists it under `bundles:`, as the root fleet.yaml's comment shows for the CRD bundle).
    nested = [f for f in repo_files() if "/" in f and PurePosixPath(f).name in FLEET_YAMLS]
    assert nested == ["examples/controller/fleet.yaml"], "rename these (e.g. fleet.yaml.golden) or keep them out"


def test_fleetignore_lines_are_patterns_fleet_understands() -> None:
    for pattern in read_fleetignore((REPO / ".fleetignore").read_text(encoding="utf-8")):
        assert not re.search(r"\s|#|\*\*|^!", pattern), f"inline comment? {pattern!r}"
        assert not DIR_PATTERN.match(pattern) or re.fullmatch(r"[^/*?\[]+/\*", pattern), pattern


def test_root_fleet_yaml_is_valid() -> None:
    doc = yaml.safe_load((REPO / "fleet.yaml").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["name"]) and len(doc["name"]) <= 53
    assert doc["keepResources"] is True
    assert "namespace" not in doc, "a forced namespace would be stamped onto the cluster-scoped CRD"
    schema = yaml.safe_load((DATA / "fleet/fleet.yaml.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_crd_is_the_fleethandshake_crd() -> None:
    (crd,) = yaml.safe_load_all((REPO / CRD).read_text(encoding="utf-8"))
    assert crd["kind"] == "CustomResourceDefinition"
    assert (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (
        "riverpointtechnology.com",
        "FleetHandshake",
    )


def test_crd_is_the_original_operators_crd() -> None:
    """The original operator's CRD, plus the controller's status.message and
    status.observedGeneration (additive: every object valid before stays valid; without them in
    the schema the API server would prune what the controller writes)."""
    (seed,) = yaml.safe_load_all((DATA / "seed/fleethandshake-crd.yaml").read_text(encoding="utf-8"))
    (ours,) = yaml.safe_load_all((REPO / CRD).read_text(encoding="utf-8"))
    status = ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status.pop("message")["type"] == "string"
    assert status.pop("observedGeneration")["type"] == "integer"
    assert ours == seed


def test_rules_on_a_synthetic_tree(tmp_path: Path) -> None:
    tree = {
        ".fleetignore": "# comment\n\nskip-me.yaml\ngone/*\n*.tmp.yaml   \ninline.yaml # kept\n",
        "sub/.fleetignore": "local.yaml\n",
        "fleet.yaml": "",
        **dict.fromkeys(["a.yaml", "b.yml", "c.json", "notes.txt", "inline.yaml", "x.tmp.yaml"]),
        **dict.fromkeys([".hidden.yaml", ".hid/x.yaml", "gone/x.yaml", "sub/deep/gone/y.yaml"]),
        **dict.fromkeys(["sub/skip-me.yaml", "sub/local.yaml", "sub/keep.yaml", "sub/gone"]),
        **dict.fromkeys(["local.yaml", "other/local.yaml", "nested/fleet.yml", "nested/n.yaml"]),
    }
    for name, text in tree.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text or "kind: ConfigMap\n", encoding="utf-8")

    content = bundle_content(tmp_path, walk_files(tmp_path))

    expected = {"a.yaml", "b.yml", "c.json", "inline.yaml", "local.yaml", "other/local.yaml"}
    assert deployed(content) == expected | {"sub/keep.yaml"}
    # A non-manifest file and a nested bundle are still copied; a file named like a "dir/*"
    # pattern is not a folder and stays.
    copied_only = {"notes.txt", "sub/gone", "nested/fleet.yml", "nested/n.yaml"}
    assert content - deployed(content) == copied_only


def test_fleetignore_is_what_keeps_the_project_out() -> None:
    folders = ("generator", "templates", "tests", "examples", "benchmarks", "docs")
    probes = [f"{d}/{n}" for d in folders for n in ("probe.yaml", "deep/probe.json")]
    files = [*repo_files(), *probes]  # never read: only .fleetignore files are opened
    assert deployed(bundle_content(REPO, files)) == {CRD}

    without = bundle_content(REPO, [f for f in files if f != ".fleetignore"])
    assert set(probes) <= deployed(without)
    visible = {f for f in files if not any(p.startswith(".") for p in PurePosixPath(f).parts)}
    # (examples/controller's own .fleetignore keeps its Dockerfile and README out of its bundle.)
    own = {f for f in visible if PurePosixPath(f).parent == PurePosixPath("examples/controller")}
    assert {f for f in visible if f.startswith(("tests/", "examples/"))} - own <= without
