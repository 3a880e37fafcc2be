"""docs/hooks.md is held to the hook specifications (as datasette holds its plugin hooks page):
every hookspec in himoe_core.plugins.hookspecs has a level-2 heading with its exact signature,
`name(arg, ...)`, an anchor named after it, and its docstring quoted in its section; the page
documents no hook the specs do not have."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from himoe_core.plugins import hookspecs
from himoe_core.plugins.markers import PROJECT

HOOKS_MD = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"
HEADING = re.compile(r"^## (?P<title>.+?)(?:\s*\{#(?P<anchor>[\w-]+)\})?\s*$")


def hookspec_functions() -> dict:
    """Every function of the hookspecs module that pluggy's HookspecMarker marked."""
    marker = PROJECT + "_spec"
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and getattr(fn, marker, None) is not None
    }


def documented_hooks() -> dict[str, dict]:
    """Level-2 headings of the form `name(args)`, outside code fences: title → anchor and body."""
    hooks: dict[str, dict] = {}
    current = None
    fenced = False
    for line in HOOKS_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = HEADING.match(line) if not fenced else None
        if match:
            title = match.group("title").strip("` ")
            current = title if re.fullmatch(r"\w+\(.*\)", title) else None
            if current is not None:
                hooks[current] = {"anchor": match.group("anchor"), "body": []}
            continue
        if current is not None:
            hooks[current]["body"].append(line)
    return hooks


def normalise(text: str) -> str:
    return " ".join(text.replace("``", "`").split())


SPECS = hookspec_functions()
DOCUMENTED = documented_hooks()


def test_the_specs_are_found():
    assert {
        "register_experts",
        "register_routers",
        "register_aggregators",
        "register_orchestrators",
        "register_encoders",
    } <= set(SPECS)


def plain_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """The signature as a plugin author writes it: the hookspecs' annotations are for the type checker."""
    signature = inspect.signature(fn)
    empty = inspect.Parameter.empty
    return signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()], return_annotation=empty
    )


def test_every_hook_is_documented_with_its_exact_signature_and_nothing_else_is():
    expected = {f"{name}{plain_signature(fn)}" for name, fn in SPECS.items()}
    assert sorted(DOCUMENTED) == sorted(expected), (
        "docs/hooks.md must have one '## name(args)' heading per hookspec, with the exact signature"
    )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_hook_section_quotes_its_docstring_and_has_a_stable_anchor(name):
    fn = SPECS[name]
    section = DOCUMENTED.get(f"{name}{plain_signature(fn)}")
    assert section is not None, f"docs/hooks.md: no section for {name}"
    assert section["anchor"] == name, f"docs/hooks.md: give the {name} heading the anchor {{#{name}}}"
    quoted = [line.lstrip(">").strip() for line in section["body"] if line.startswith(">")]
    assert normalise(" ".join(quoted)) == normalise(inspect.getdoc(fn)), (
        f"docs/hooks.md: the blockquote of {name} must be its docstring (`` as `)"
    )
