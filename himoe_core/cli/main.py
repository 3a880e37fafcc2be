"""The `himoe` command."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Sequence

from ..errors import MoeError
from ..version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="himoe",
        description="Hierarchical mixtures of heterogeneous experts: list, route, learn.",
    )
    parser.add_argument("--version", action="version", version=f"himoe {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--plugins-dir", metavar="DIR", help="also load every *.py plugin in DIR")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    listing = commands.add_parser("list-experts", help="list the installed experts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list_experts)

    plugins = commands.add_parser("plugins", help="list the installed plugins and their load errors")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.add_argument("--all", action="store_true", help="include the built-in plugin")
    plugins.set_defaults(handler=_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("himoe: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place a traceback is turned into a line
        if args.debug:
            traceback.print_exc()
        elif isinstance(exc, MoeError):
            print(f"himoe: error: {exc}", file=sys.stderr)
        else:
            print(f"himoe: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                  file=sys.stderr)
        return 1


def _host(args: argparse.Namespace):
    from ..plugins import PluginHost

    return PluginHost(plugins_dir=args.plugins_dir)


def _list_experts(args: argparse.Namespace) -> int:
    infos = _host(args).expert_infos()
    if args.json:
        _print_json([info.to_jsonable() for info in infos])
        return 0
    rows = [(str(i.id), i.name, i.domain, f"{i.plugin}=={i.version}" if i.version else i.plugin, i.description)
            for i in infos]
    _print_table(("ID", "NAME", "DOMAIN", "PLUGIN", "DESCRIPTION"), rows)
    if not rows:
        print("no experts installed; install a plugin such as himoe-planning", file=sys.stderr)
    return 0


def _plugins(args: argparse.Namespace) -> int:
    infos = _host(args).plugins(include_builtins=args.all)
    if args.json:
        _print_json([info.to_jsonable() for info in infos])
        return 0
    rows = [(i.dist_name or i.name, i.version or "-", i.origin, ", ".join(i.hooks) or "-",
             f"ERROR: {i.error}" if i.error else "ok") for i in infos]
    _print_table(("PLUGIN", "VERSION", "ORIGIN", "HOOKS", "STATUS"), rows)
    return 0


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells).rstrip())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
