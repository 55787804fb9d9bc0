"""adapters.fs.source.read_source: which files of the source folder are read, in which order."""

from __future__ import annotations

import json
from pathlib import Path

from fleethandshake.adapters.fs.source import LINKED_FOLDER, read_source
from fleethandshake.core.output import STATUS_API_VERSION


def test_reads_yaml_files_by_folder_skipping_hidden_entries_and_the_output(tmp_path: Path) -> None:
    src = tmp_path / "src"
    made = ["z.yaml", "a/b.yml", "a/c/d.yaml", "a/notes.txt", ".hidden.yaml", ".git/x.yaml", "a/.h/e.yaml"]
    made += ["out/o.yaml", "old/.fleet-handshake/status.json", "old/b/fleet.yaml", "other/outside.yaml"]
    for rel in made:
        path = src / rel if not rel.startswith("other/") else tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name: {rel}\n")
    # An output folder (old/) is one with the status record generate writes, not any file of that name.
    (src / "old" / ".fleet-handshake" / "status.json").write_text(json.dumps({"apiVersion": STATUS_API_VERSION,
                                                                             "handshakes": []}))  # fmt: skip
    (src / "a" / "to-other").symlink_to(tmp_path / "other")  # a link to a folder is not followed: a problem
    (src / "a" / ".to-other").symlink_to(tmp_path / "other")  # unless hidden
    (src / "a" / "link.yaml").symlink_to(src / "z.yaml")  # a link to a file inside is read
    (src / "a" / "out.yaml").symlink_to(tmp_path / "other" / "outside.yaml")  # one to a file outside is not
    files, problems = read_source(src, src / "out")
    assert [f.path for f in files] == ["z.yaml", "a/b.yml", "a/link.yaml", "a/c/d.yaml"]
    assert files[2].content == b"name: z.yaml\n"
    assert [(p.file, p.message) for p in problems] == [
        ("a/to-other/", LINKED_FOLDER),
        ("a/out.yaml", "is a symbolic link that points outside the source; refusing to follow it"),
    ]
