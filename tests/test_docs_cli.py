"""docs/cli.md documents exactly the `himoe` command's parser: every subcommand has a section,
every option and positional argument of a subcommand appears in its section, and the page
mentions no option that does not exist (an option in a command's section must be that
command's, or a global one)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from himoe_core._cli.main import build_parser

CLI_MD = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")
TABLE_ROW = re.compile(r"^\| `(--[a-z][a-z0-9-]*|[A-Z][A-Z_]*)[ `]", re.M)  # | `--opt ARG` | meaning |
HELP = {"-h", "--help"}


def sections(text: str) -> dict[str, str]:
    """Heading title → body, for level-2 headings outside fenced code blocks."""
    found: dict[str, list[str]] = {}
    current = None
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            current = line[3:].strip()
            found[current] = []
            continue
        if current is not None:
            found[current].append(line)
    return {title: "\n".join(lines) for title, lines in found.items()}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def options_of(parser: argparse.ArgumentParser, nested: bool = True) -> set[str]:
    """The options of a command, and of its actions when it has some (`himoe state reset`)."""
    nested = {
        s
        for a in parser._actions
        if nested and isinstance(a, argparse._SubParsersAction)
        for sub in a.choices.values()
        for s in options_of(sub)
    }
    return ({s for a in parser._actions for s in a.option_strings} | nested) - HELP


def positionals_of(parser: argparse.ArgumentParser) -> list[str]:
    return [
        (a.metavar or a.dest).upper()
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]


GLOBAL_OPTIONS = options_of(build_parser(), nested=False)
TEXT = CLI_MD.read_text(encoding="utf-8")
SECTIONS = sections(TEXT)
COMMAND_SECTIONS: dict[str, str] = {}
for (
    title,
    body,
) in SECTIONS.items():  # a command with actions (`himoe state reset`, `… migrate`): their sections together
    if m := re.fullmatch(r"`himoe ([a-z][a-z-]*)(?: [a-z]+)?`", title):
        COMMAND_SECTIONS[m.group(1)] = COMMAND_SECTIONS.get(m.group(1), "") + body
COMMANDS = subcommands()


def test_every_subcommand_has_a_section_and_no_section_names_a_missing_one():
    assert sorted(COMMAND_SECTIONS) == sorted(COMMANDS), (
        "docs/cli.md needs one '## `himoe <command>`' section per subcommand of build_parser()"
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_and_argument_of_a_command_has_a_row_in_its_section(command):
    documented = set(TABLE_ROW.findall(COMMAND_SECTIONS.get(command, "")))
    missing = sorted(options_of(COMMANDS[command]) - GLOBAL_OPTIONS - documented)  # globals: their own section
    assert not missing, f"docs/cli.md, section `himoe {command}`: options without a table row: {missing}"
    for name in positionals_of(COMMANDS[command]):
        assert name in documented, (
            f"docs/cli.md, section `himoe {command}`: positional argument {name} has no table row"
        )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_section_mentions_only_options_that_exist(command):
    body = COMMAND_SECTIONS.get(command, "")
    allowed = options_of(COMMANDS[command]) | GLOBAL_OPTIONS | HELP
    unknown = sorted(set(OPTION.findall(body)) - allowed)
    assert not unknown, f"docs/cli.md, section `himoe {command}`: no such option(s): {unknown}"


def test_global_options_are_documented_and_the_page_names_no_unknown_option():
    body = SECTIONS.get("Global options", "")
    missing = sorted(GLOBAL_OPTIONS - set(TABLE_ROW.findall(body)))
    assert not missing, f"docs/cli.md, section Global options: options without a table row: {missing}"
    every = GLOBAL_OPTIONS | HELP | {o for p in COMMANDS.values() for o in options_of(p)}
    unknown = sorted(set(OPTION.findall(TEXT)) - every)
    assert not unknown, f"docs/cli.md mentions options the parser does not have: {unknown}"


def test_the_parser_walk_finds_the_commands_of_the_design():
    # The walk above must see the real parser (a broken walk would make every test vacuous).
    assert {"list-experts", "run", "feedback", "stats", "plugins"} <= set(COMMANDS)
    assert {"--json", "--explain", "--budget-ms", "--task"} <= options_of(COMMANDS["run"])
    assert "--plugins-dir" in GLOBAL_OPTIONS


def test_the_list_experts_json_fields_are_the_ones_it_prints():
    from himoe_core.routing import ExpertId, ExpertInfo

    documented = re.search(
        r"`--json` \| a JSON array of `\{([^}]*)\}`", sections(CLI_MD.read_text())["`himoe list-experts`"]
    )
    assert documented is not None
    printed = ExpertInfo(ExpertId(1), "n", "d", "p", None, "").to_jsonable()
    assert re.findall(r'"(\w+)"', documented.group(1)) == list(printed)
