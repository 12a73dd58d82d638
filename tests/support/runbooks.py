"""The runbooks in docs/runbooks/ as data: their sections, their ```sh blocks (commands, the exit status a
command is meant to end with, what a block's output shows) and the notice each page quotes.

A page's conventions (docs/runbooks/README.md says them for readers):

- one ``# `` title, then a sentence naming the page's shell variables (``$PIPELINE``, ...), then the
  sections ``What you see``, ``What the system already did``, ``Check``, ``Recover``, ``Confirm``;
- every command in a ```sh block is one ``promote`` command line; ``# exits N ...`` at its end says it is
  meant to exit N (otherwise 0);
- ``<!-- expect: TEXT -->`` right after a block: the block's output contains TEXT (``expect-not``: it does
  not);
- ``<!-- notice: SUBJECT -->`` in "What you see": the subject of the notice the team gets.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
INDEX = RUNBOOKS / "README.md"
SECTIONS = ("What you see", "What the system already did", "Check", "Recover", "Confirm")
# Sections whose commands only look: the tests run them again until what they should show is there.
READ_ONLY_SECTIONS = ("Check", "Confirm")

# The variables a page may use, and what each stands for (the index lists them; the tests set them).
VARIABLES = {
    "PIPELINE": "the pipeline's name",
    "SHA": "the full commit SHA the promotion carries",
    "EXECUTION": "the execution's name, as the notice shows it (`Execution:`)",
    "EXECUTION_ARN": "the execution's ARN, as the notice shows it (`ARN:`)",
    "APPROVAL_ID": "the id `promote approvals list --pipeline $PIPELINE` prints first on the request's line",
    "NEW_EXECUTION": "the `name` that the page's `promote start` or `promote redeploy` printed",
    "FIXED_SHA": "a newer commit that fixes the build, once CI has published it",
    "ALARM": "the alarm the failure's cause names",
}
# Only in expectations and notices: the commit as notices and listings shorten it.
SHORT_SHA = "SHA12"

_VARIABLE = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)\}?")
_EXITS = re.compile(r"#\s*exits\s+(\d+)\b")
_EXPECT = re.compile(r"<!--\s*(expect|expect-not):\s*(.*?)\s*-->")
_NOTICE = re.compile(r"<!--\s*notice:\s*(.*?)\s*-->")
_FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Command:
    line: str  # as written, without its trailing comment
    exit_status: int

    def words(self, variables: dict[str, str]) -> list[str]:
        """The command's words with the variables put in (``KeyError`` for a variable not given)."""
        return shlex.split(_VARIABLE.sub(lambda m: shlex.quote(variables[m.group(1)]), self.line))

    def arguments(self) -> list[str]:
        """The words after ``promote``, every variable standing as a placeholder value."""
        words = self.words({name: _placeholder(name) for name in self.variables()})
        return words[1:]

    def variables(self) -> set[str]:
        return set(_VARIABLE.findall(self.line))


@dataclass(frozen=True)
class Block:
    section: str
    commands: tuple[Command, ...]
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()


@dataclass
class Page:
    path: Path
    title: str
    sections: dict[str, str] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    variables_sentence: str = ""

    def in_section(self, section: str) -> list[Block]:
        return [block for block in self.blocks if block.section == section]

    def variables(self) -> set[str]:
        return {name for block in self.blocks for command in block.commands for name in command.variables()}


def _placeholder(name: str) -> str:
    """A value of the right shape for parsing a command without an incident."""
    if name.endswith("SHA"):
        return "0" * 40
    return {"EXECUTION_ARN": "arn:aws:states:us-east-1:1:execution:m:n"}.get(name, name.lower())


def parse_page(path: Path) -> Page:
    lines = path.read_text().splitlines()
    page = Page(path=path, title="")
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("# ") and not page.title:
            page.title = line[2:].strip()
        elif line.startswith("## "):
            section = line[3:].strip()
            page.sections[section] = ""
        elif not section and (line.startswith("Variables:") or (page.variables_sentence and line.strip())):
            if not page.variables_sentence.endswith("\n\n"):
                page.variables_sentence += line + "\n"
        elif not section and page.variables_sentence:
            page.variables_sentence += "\n"  # the paragraph has ended
        fence = _FENCE.match(line)
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            body = lines[index + 1 : end]
            if section:
                page.sections[section] += "\n".join(lines[index : end + 1]) + "\n"
            index = end + 1
            if fence.group(1) == "sh":
                page.blocks.append(_block(section, body, lines, index))
            continue
        if section:
            page.sections[section] += line + "\n"
        page.notices += _NOTICE.findall(line)
        index += 1
    return page


def _block(section: str, body: list[str], lines: list[str], after: int) -> Block:
    commands = []
    for raw in body:
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        exits = _EXITS.search(text)
        line = text.split(" #", 1)[0].strip() if "#" in text else text
        commands.append(Command(line=line, exit_status=int(exits.group(1)) if exits else 0))
    expect: list[str] = []
    expect_not: list[str] = []
    # The expectations are the comments right after the block (blank lines between are allowed).
    for raw in lines[after:]:
        if not raw.strip():
            continue
        found = _EXPECT.fullmatch(raw.strip())
        if not found:
            break
        (expect if found.group(1) == "expect" else expect_not).append(found.group(2))
    return Block(section, tuple(commands), tuple(expect), tuple(expect_not))


def pages() -> list[Page]:
    return [parse_page(path) for path in sorted(RUNBOOKS.glob("*.md")) if path.name != "README.md"]


def index_links() -> dict[str, str]:
    """The index's table: scenario -> page file name."""
    found = {}
    for line in INDEX.read_text().splitlines():
        row = re.match(r"\|\s*([^|]+?)\s*\|\s*\[[^\]]+\]\(([^)#]+\.md)\)", line)
        if row and row.group(1).lower() != "scenario":
            found[row.group(1)] = row.group(2)
    return found


def expand(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables[m.group(1)], text)
