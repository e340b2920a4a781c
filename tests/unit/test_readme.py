"""The README's first screen: what a newcomer needs before typing anything, and nothing it names that
the project does not install."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SET_UP = README.split("## Set up", 1)[1].split("\n## ", 1)[0]


def test_set_up_is_exactly_two_commands_the_demo_and_the_tests():
    commands = [line.strip() for line in SET_UP.splitlines() if line.startswith("    ")]
    assert len(commands) == 2, commands
    assert commands[0].endswith("mk-control demo") and commands[1].endswith("python -m pytest")


def test_set_up_says_sign_in_is_needed_and_the_demo_prints_the_accounts():
    text = " ".join(SET_UP.split())
    assert "needs sign-in" in text and "the demo prints" in text and "accounts" in text


def test_set_up_says_how_long_the_tests_take():
    assert re.search(r"takes about \d+ minutes on a \d-core machine", " ".join(SET_UP.split()))


def test_a_tool_the_readme_tells_people_to_run_is_an_extra_of_the_project():
    extras = PYPROJECT["project"]["optional-dependencies"]
    for tool in ("honcho", "gunicorn"):
        if f"{tool} start" in README or f"`{tool}" in README:
            wanted = [*PYPROJECT["project"]["dependencies"], *(d for deps in extras.values() for d in deps)]
            assert any(d.startswith(tool) for d in wanted), f"the README runs {tool}, which nothing installs"
    assert "'.[procfile]'" in README and "honcho" in " ".join(extras["procfile"])
