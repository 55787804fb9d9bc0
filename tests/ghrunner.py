"""A GitHub runner's files for a step ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT, $RUNNER_TEMP) in a temp
folder, and the composite action's own shell steps run as the runner runs them: bash, with each
input handed over through the step's `env:`, an input left out taking its declared default."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from fhtest import REPO, Run, run_cli

ACTION_DIR = REPO / ".github/actions/fleet-handshake"
ACTION: dict[str, Any] = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
_INPUT = re.compile(r"^\$\{\{ inputs\.([A-Za-z0-9_-]+) \}\}$")
_CONTEXT = {"${{ github.action_path }}": str(ACTION_DIR)}


def step_outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT read as the runner reads it: `name=value` and `name<<DELIM` blocks, last wins."""
    found: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for item in lines:
                if item == delimiter:
                    break
                value.append(item)
            found[name] = "\n".join(value)
        else:
            name, _, value_text = line.partition("=")
            found[name] = value_text
    return found


def action_step(step_id: str) -> dict[str, Any]:
    return next(s for s in ACTION["runs"]["steps"] if s.get("id") == step_id)


class Runner:
    """The files a GitHub runner gives a step, in a temp folder."""

    def __init__(self, root: Path) -> None:
        self.summary = root / "summary.md"
        self.output = root / "output.txt"
        self.temp = root / "runner-temp"
        self.temp.mkdir(parents=True)
        self.runs: list[Run] = []

    def env(self, key_env: dict[str, str]) -> dict[str, str]:
        return {
            **key_env,
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "RUNNER_TEMP": str(self.temp),
        }

    def action(self, key_env: dict[str, str], *args: str | Path) -> tuple[Run, dict[str, str]]:
        self.output.write_text("")  # each step gets a fresh outputs file
        result = run_cli("action", *args, env=self.env(key_env))
        self.runs.append(result)
        return result, step_outputs(self.output)

    def step(
        self, step_id: str, inputs: dict[str, str], workspace: Path, key_env: dict[str, str]
    ) -> tuple[Run, dict[str, str]]:
        """The action.yml step `step_id`'s script, in `workspace` (which is $GITHUB_WORKSPACE), with
        `inputs` as a workflow's `with:` gives them; fleet-handshake is this test run's."""
        declared = ACTION["inputs"]
        assert set(inputs) <= set(declared), f"not inputs of the action: {set(inputs) - set(declared)}"
        step = action_step(step_id)
        step_env = {}
        for name, value in step.get("env", {}).items():
            found = _INPUT.match(value)
            step_env[name] = inputs.get(found[1], declared[found[1]].get("default", "")) if found else _CONTEXT[value]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
        env.update({**self.env(key_env), **step_env, "GITHUB_WORKSPACE": str(workspace)})
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.output.write_text("")
        proc = subprocess.run(["bash", "-c", step["run"]], cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        result = Run(proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(result)
        return result, step_outputs(self.output)

    def everything_written(self) -> str:
        texts = [r.stdout + r.stderr for r in self.runs]
        texts += [p.read_text() for p in (self.summary, self.output) if p.exists()]
        texts += [p.read_text() for p in self.temp.iterdir()]
        return "\n".join(texts)
