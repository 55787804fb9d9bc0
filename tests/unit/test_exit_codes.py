"""Exit codes: errors.py, `--help`, the README's tables and the Action say the same thing."""

from __future__ import annotations

import yaml

from fhtest import REPO
from fleethandshake import helptext
from fleethandshake.errors import EXIT_CHANGES, EXIT_FAILED, EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE


def _flat(text: str) -> str:
    return " ".join(text.split())


def _readme_table(first_column: str) -> dict[int, str]:
    """The README table whose header starts `| first_column | meaning |`: code -> meaning."""
    lines = iter((REPO / "README.md").read_text().splitlines())
    for line in lines:
        if line.startswith(f"| {first_column} | meaning |"):
            break
    next(lines)  # | --- | --- |
    rows = {}
    for line in lines:
        if not line.startswith("|"):
            break
        code, meaning = (cell.strip() for cell in line.strip("|").split("|", 1))
        rows[int(code)] = meaning
    return rows


def test_plan_says_changes_with_10_and_an_unexpected_error_with_3_everywhere() -> None:
    plan = _readme_table("plan exit code")
    assert set(plan) == {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNEXPECTED, EXIT_CHANGES}
    assert plan[EXIT_CHANGES] == "changes present"
    assert plan[EXIT_UNEXPECTED].startswith("unexpected error")
    assert _readme_table("code")[EXIT_UNEXPECTED].startswith("unexpected error")
    assert EXIT_CHANGES not in _readme_table("code")  # generate, validate and publish never say it

    assert f"{EXIT_UNEXPECTED} unexpected error; {EXIT_CHANGES} changes present." in _flat(helptext.PLAN_HELP)
    epilog = _flat(helptext.EPILOG)
    assert f"{EXIT_UNEXPECTED} unexpected error (use --debug for a traceback), for every command;" in epilog
    assert f"{EXIT_CHANGES} `plan`: changes present;" in epilog

    action_help = _flat(helptext.ACTION_HELP)
    assert f"`plan` exits 0 when there are changes (the command's {EXIT_CHANGES}; changed=true)" in action_help
    assert f"an unexpected error ({EXIT_UNEXPECTED}; changed=false)" in action_help
    action = yaml.safe_load((REPO / ".github/actions/fleet-handshake/action.yml").read_text())
    changed = _flat(action["outputs"]["changed"]["description"])
    assert f"the command's exit {EXIT_CHANGES}, which the action turns into success" in changed
    assert f"{EXIT_UNEXPECTED} for an unexpected error" in changed


def test_controller_help_says_its_exit_codes_as_the_readme_does() -> None:
    text = _flat(helptext.CONTROLLER_HELP)
    assert (
        f"exit codes: {EXIT_OK} stopped by SIGTERM or Ctrl-C (the Lease released); {EXIT_FAILED} the Lease was lost"
        in text
    )
    assert f"{EXIT_USAGE} wrong command line or no usable kubeconfig." in text
    readme = _flat((REPO / "README.md").read_text())
    assert f"the Lease is released, exit code {EXIT_OK}; a lost Lease ends it with {EXIT_FAILED}" in readme
