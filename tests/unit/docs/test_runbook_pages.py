"""The runbooks in docs/runbooks/ are whole and speak the CLI that exists (no plane needed; the integration
test tests/integration/runbooks/ runs them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promote_cli.cli import build_parser
from tests.support.runbooks import (
    INDEX,
    READ_ONLY_SECTIONS,
    RUNBOOKS,
    SECTIONS,
    SHORT_SHA,
    VARIABLES,
    Command,
    Page,
    index_links,
    pages,
    parse_page,
)

REPOSITORY = RUNBOOKS.parents[1]
SCENARIOS = [
    "artifact missing",
    "preprod deploy failed",
    "integration tests failed",
    "approval timed out",
    "approval rejected",
    "approval superseded",
    "prod deploy failed",
    "canary failed",
    "alarm during bake",
    "rollback failed (critical)",
    "lock held by a dead promotion",
    "GitHub outage",
    "forged approval detected",
]
# Commands that only look (what Check and Confirm may run): the subcommand path's first words.
READ_ONLY_COMMANDS = {
    ("status",),
    ("executions",),
    ("describe",),
    ("watch",),
    ("graph",),
    ("approvals", "list"),
    ("approvals", "audit"),
    ("github", "check"),
    ("pipeline", "show"),
    ("pipeline", "list"),
    ("check-isolation",),
}
ALL_PAGES = pages()


def page_id(page: Page) -> str:
    return page.path.name


def commands_of(page: Page) -> list[Command]:
    return [command for block in page.blocks for command in block.commands]


def test_every_scenario_has_a_page_in_the_index_and_every_page_is_in_it() -> None:
    links = index_links()
    assert sorted(links) == sorted(SCENARIOS)
    assert sorted(links.values()) == sorted(page.path.name for page in ALL_PAGES)
    for name in links.values():
        assert (RUNBOOKS / name).is_file(), name


@pytest.mark.parametrize("page", ALL_PAGES, ids=page_id)
def test_a_page_has_every_section_in_order_each_with_text(page: Page) -> None:
    assert page.title.startswith("Runbook: ")
    assert list(page.sections) == list(SECTIONS)
    for section, text in page.sections.items():
        assert text.strip(), f"{page.path.name}: {section} is empty"
    for section in ("Check", "Recover", "Confirm"):
        assert page.in_section(section), f"{page.path.name}: {section} has no ```sh block"
    assert page.in_section("Confirm")[-1].expect, f"{page.path.name}: Confirm shows nothing checkable"
    assert page.notices, f"{page.path.name}: What you see quotes no notice"
    seen = page.sections["What you see"]
    assert "Console" in seen
    assert "GitHub" in seen
    assert "without `--local`" in page.path.read_text()


@pytest.mark.parametrize("page", ALL_PAGES, ids=page_id)
def test_every_command_is_a_promote_command_the_cli_parses(
    page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    for command in commands_of(page):
        arguments = command.arguments()
        assert command.line.startswith("promote --local "), command.line
        try:
            parser.parse_args(arguments)
        except SystemExit as error:  # argparse's way of refusing
            raise AssertionError(f"{page.path.name}: {command.line!r}: {capsys.readouterr().err}") from error


@pytest.mark.parametrize("page", ALL_PAGES, ids=page_id)
def test_check_and_confirm_only_look(page: Page) -> None:
    for section in READ_ONLY_SECTIONS:
        for block in page.in_section(section):
            for command in block.commands:
                words = [word for word in command.arguments() if not word.startswith("--")]
                assert tuple(words[:1]) in READ_ONLY_COMMANDS or tuple(words[:2]) in READ_ONLY_COMMANDS, (
                    f"{page.path.name} {section}: {command.line!r} changes something"
                )


@pytest.mark.parametrize("page", ALL_PAGES, ids=page_id)
def test_every_variable_is_named_in_the_page_and_in_the_index(page: Page) -> None:
    named = set(re.findall(r"`\$([A-Z_0-9]+)`", page.variables_sentence))
    used = page.variables()
    assert used <= named, f"{page.path.name}: {sorted(used - named)} not named in its first sentence"
    assert named <= set(VARIABLES), f"{page.path.name}: {sorted(named - set(VARIABLES))} unknown"
    index = INDEX.read_text()
    for name in used:
        assert f"| `${name}` |" in index, name
    for block in page.blocks:
        for text in (*block.expect, *block.expect_not):
            assert set(re.findall(r"\$([A-Z_0-9]+)", text)) <= named | {SHORT_SHA}, text


def test_a_command_meant_to_fail_says_so_and_the_parser_reads_it(tmp_path: Path) -> None:
    page = tmp_path / "sample.md"
    page.write_text(
        "# Runbook: x\n\nVariables: `$PIPELINE` is the pipeline.\n\n## Check\n\n```sh\n"
        "promote --local check-isolation --pipeline $PIPELINE   # exits 1 while a role reaches prod\n"
        "promote --local status --pipeline $PIPELINE\n```\n"
        "<!-- expect: prod -->\n<!-- expect-not: FROZEN -->\n"
    )
    (block,) = parse_page(page).blocks
    assert [c.exit_status for c in block.commands] == [1, 0]
    assert block.commands[0].words({"PIPELINE": "p q"}) == [
        "promote",
        "--local",
        "check-isolation",
        "--pipeline",
        "p q",
    ]
    assert (block.expect, block.expect_not) == (("prod",), ("FROZEN",))


def test_the_runbooks_are_linked_from_the_readme_and_the_failure_paths() -> None:
    assert "(docs/runbooks/README.md)" in (REPOSITORY / "README.md").read_text()
    assert "(runbooks/README.md)" in (REPOSITORY / "docs" / "failure-paths.md").read_text()
