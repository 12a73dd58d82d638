"""Every ``promote`` command, run as a new user would run it with nothing set up (no local plane, no AWS
region, no credentials) or with bad arguments, answers one line on stderr and exit status 2.

The commands are read from the parser itself, so a new command is covered the day it is added.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promote_cli import cli

DRIVER = Path(__file__).resolve().parents[2] / "support" / "cli_isolated.py"
# Commands whose success starts a local plane: with nothing wrong they would serve until stopped. They
# get arguments that are wrong in a way only they can notice.
STARTS_A_PLANE = {("local", "up"): ["--pipeline-file", "no-such-pipeline.json"], ("demo",): None}
# Commands that need nothing set up (they read only the repository's own files): they succeed anywhere, so
# only a bad argument can make them fail.
NEEDS_NOTHING = {("graph",), ("pipeline", "schema")}


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Any]:
    """(command path, its parser) for every command that runs something."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for action in subparsers:
        for name, child in action.choices.items():
            yield from leaf_commands(child, (*path, name))


def required_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """Values for every positional and required option that the parser accepts."""
    argv: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings and not action.required:
            continue
        value = next(v for v in plausible_values(action) if accepts(action, v))
        argv += [action.option_strings[0], value] if action.option_strings else [value]
    return argv


def plausible_values(action: argparse.Action) -> list[str]:
    return [*(str(c) for c in action.choices or ()), "0" * 40, "example", "1"]


def accepts(action: argparse.Action, value: str) -> bool:
    if action.choices and value not in [str(c) for c in action.choices]:
        return False
    if callable(action.type):
        try:
            action.type(value)
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            return False
    return True


def command_lines() -> list[tuple[str, list[str]]]:
    """(why, argv) for every command: each way of having nothing set up, and an unknown option."""
    lines = []
    for path, parser in leaf_commands(cli.build_parser()):
        arguments = [*path, *required_arguments(parser)]
        if path in STARTS_A_PLANE:
            extra = STARTS_A_PLANE[path]
            if extra is None:
                arguments = []
            else:
                arguments += extra
        if arguments and path not in NEEDS_NOTHING:
            lines.append(("no region", arguments))
            lines.append(("no local plane", ["--local", *arguments]))
            lines.append(("no credentials", ["--region", "us-east-1", *arguments]))
        lines.append(("unknown option", [*path, "--no-such-option"]))
    return lines


@pytest.fixture(scope="module")
def bare_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A machine where nothing is set up: an empty home, empty AWS config and credentials files, no AWS_*
    or PROMOTE_* variable, no instance metadata, and a working directory with no .promote above it."""
    root = tmp_path_factory.mktemp("bare")
    (root / "home").mkdir()
    (root / "work").mkdir()
    empty = root / "empty"
    empty.write_text("")
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PROMOTE_", "BOTO"))
    }
    environment |= {
        "HOME": str(root / "home"),
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    assert not any((parent / ".promote").exists() for parent in (root / "work").parents)
    return {"env": environment, "cwd": root / "work"}


def run_isolated(bare: dict[str, Any], argvs: list[list[str]]) -> list[dict[str, Any]]:
    finished = subprocess.run(
        [sys.executable, "-P", str(DRIVER)],  # -P: tests/support/promotion.py must not shadow the layer,
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        env=bare["env"],
        cwd=bare["cwd"],
        timeout=300,
        check=True,
    )
    return list(json.loads(finished.stdout))


def test_the_walk_finds_every_command() -> None:
    commands = {" ".join(path) for path, _ in leaf_commands(cli.build_parser())}
    assert {"local up", "local alarm", "status", "start", "approvals list", "approve", "watch"} <= commands
    for why, argv in command_lines():
        if why != "unknown option":
            cli.build_parser().parse_args(argv)  # the generated arguments are valid: the command runs


def test_every_command_with_nothing_set_up_or_bad_arguments_is_one_line_and_exit_2(
    bare_environment: dict[str, Any],
) -> None:
    lines = command_lines()
    results = run_isolated(bare_environment, [argv for _, argv in lines])
    wrong = [
        f"{why}: promote {' '.join(result['argv'])} -> exit {result['code']}, stderr:\n{result['stderr']}"
        for (why, _), result in zip(lines, results, strict=True)
        if result["code"] != 2
        or result["stdout"] != ""
        or len(result["stderr"].splitlines()) != 1
        or not result["stderr"].startswith("promote")
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["status", "--pipeline", "p"],
            "promote: no AWS region configured: pass --region, set AWS_REGION or a profile's region, "
            "or use --local for the local control plane",
        ),
        (
            ["--region", "us-east-1", "status", "--pipeline", "p"],
            "promote: no AWS credentials found: configure a profile (aws configure, AWS_PROFILE) or set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --local for the local control plane",
        ),
        (
            ["--local", "status", "--pipeline", "p"],
            "promote: no local control plane found (no .promote/local.json in {cwd} or its parents): "
            "run 'promote local up'",
        ),
        (
            ["local", "alarm", "some-alarm", "ALARM"],
            "promote: no local control plane found (no .promote/local.json in {cwd} or its parents): "
            "run 'promote local up'",
        ),
        (
            ["status", "--pipeline", "p", "--history", "0"],
            "promote status: error: argument --history: must be from 1 to 100, got 0 "
            "(see: promote status --help)",
        ),
        (
            ["start", "--pipeline", "p", "--sha", "0" * 40, "--attempt", "0"],
            "promote start: error: argument --attempt: must be from 1 to 999, got 0 "
            "(see: promote start --help)",
        ),
        (
            ["local", "traffic", "--seconds", "0"],
            "promote local traffic: error: argument --seconds: must be from 1 to 3600, got 0 "
            "(see: promote local traffic --help)",
        ),
        (
            ["local", "up", "--pipeline-file", "missing.json"],
            "promote: --pipeline-file missing.json: no such file",
        ),
    ],
)
def test_what_a_new_user_runs_into_first_is_explained(
    bare_environment: dict[str, Any], argv: list[str], expected: str
) -> None:
    [result] = run_isolated(bare_environment, [argv])
    assert (result["code"], result["stdout"]) == (2, "")
    assert result["stderr"] == expected.format(cwd=bare_environment["cwd"]) + "\n"


def test_local_up_with_a_pipeline_file_that_is_not_json_says_so(
    bare_environment: dict[str, Any], tmp_path: Path
) -> None:
    broken = tmp_path / "pipeline.json"
    broken.write_text("{not json")
    [result] = run_isolated(bare_environment, [["local", "up", "--pipeline-file", str(broken)]])
    assert (result["code"], result["stdout"]) == (2, "")
    assert result["stderr"] == (
        f"promote: --pipeline-file {broken}: not JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))\n"
    )


def test_local_up_on_a_port_in_use_names_the_port(bare_environment: dict[str, Any]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        [result] = run_isolated(bare_environment, [["local", "up", "--api-port", str(port)]])
    assert (result["code"], result["stdout"]) == (2, "")
    assert result["stderr"].startswith(f"promote: --api-port {port}: 127.0.0.1:{port} is not free (")
    assert len(result["stderr"].splitlines()) == 1


def test_the_state_file_is_found_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / ".promote" / "local.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"stack_name": "s"}))
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    monkeypatch.delenv(cli.STATE_DIR_ENV, raising=False)
    monkeypatch.chdir(below)
    assert cli.find_state_file() == state
    monkeypatch.setenv(cli.STATE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert cli.find_state_file() is None
