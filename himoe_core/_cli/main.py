"""The `himoe` command."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import ConfigError, MoeError, StateError
from .._version import __version__
from .command_parser import CommandParser, one_line
from .serve_command import add_serve_command
from .stderr_log_handler import StderrLogHandler

if TYPE_CHECKING:
    from .._engine import HiMoE
    from ..plugins import PluginHost


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="himoe",
        description="Hierarchical mixtures of heterogeneous experts: list, route, learn.",
    )
    parser.add_argument("--version", action="version", version=f"himoe {__version__}")
    _add_common_options(parser, default=False)
    # The same options after the command (`himoe run --debug …`); SUPPRESS keeps a value given
    # before the command when they are not repeated after it.
    common = CommandParser(add_help=False)
    _add_common_options(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    add_command = functools.partial(commands.add_parser, parents=[common])

    listing = add_command("list-experts", help="list the installed experts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--config", metavar="FILE", help="a himoe TOML config (experts declared in it are listed too)")
    listing.set_defaults(handler=_list_experts)

    run = add_command("run", help="route one request and print the answer")
    run.add_argument("text", nargs="?", help="the request text, e.g. 'plan: ship the release'")
    run.add_argument("--task", help="a task hint such as 'fr:tag' (default: the text decides)")
    run.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="request metadata routing may learn from: KEY=CATEGORY, or KEY:=NUMBER for a number (repeatable)",
    )
    run.add_argument(
        "--features",
        metavar="FILE",
        help="route a feature vector from a .npy file "
        "(or a text file of comma/space-separated numbers) instead of text",
    )
    run.add_argument("--bytes", dest="bytes_file", metavar="FILE", help="route the bytes of FILE instead of text")
    run.add_argument("--budget-ms", type=_milliseconds, help="deadline for the whole request (default: config, 1000)")
    run.add_argument("--router", help="force this router instead of the orchestrator's choice")
    run.add_argument("--k", type=_positive_int, help="call this many experts (default: the router's k)")
    run.add_argument("--config", metavar="FILE", help="a himoe TOML config")
    run.add_argument("--json", action="store_true", help="print the response and its trace as JSON")
    run.add_argument("--explain", action="store_true", help="show how the request was routed")
    run.set_defaults(handler=_run)

    demo = add_command("demo", help="route a handful of real requests through the first-party plugins")
    demo.add_argument("--config", metavar="FILE", help="a himoe TOML config (default: the shipped demo config)")
    demo.set_defaults(handler=_demo)

    feedback = add_command("feedback", help="score the answer of a past request so routers learn")
    feedback.add_argument("trace_id", help="the trace id of the response (himoe run --json prints it)")
    score = feedback.add_mutually_exclusive_group()
    score.add_argument(
        "--reward", type=float, help="how good the answer was (higher is better, e.g. 0..1; at most 1000 either way)"
    )
    score.add_argument("--task-loss", type=float, help="how bad the answer was (= 1 - reward; instead of --reward)")
    feedback.add_argument(
        "--score", action="append", default=[], metavar="EXPERT=R", help="score one expert's output (repeatable)"
    )
    feedback.add_argument(
        "--shadow", action="append", default=[], metavar="ROUTER=R", help="score a shadow router's answer (repeatable)"
    )
    feedback.add_argument("--expected", metavar="JSON", help="the right answer, as JSON (e.g. '{\"label\": 3}')")
    feedback.add_argument("--config", metavar="FILE", help="the himoe TOML config the request was routed with")
    feedback.add_argument("--json", action="store_true", help="machine-readable output")
    feedback.set_defaults(handler=_feedback)

    stats = add_command("stats", help="guardrail metrics over the recorded traces and feedback")
    stats.add_argument(
        "--window", type=_positive_int, default=500, help="requests per window for gating drift (default 500)"
    )
    stats.add_argument("--config", metavar="FILE", help="a himoe TOML config (for its [state] path)")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(handler=_stats)

    state = add_command("state", help="manage the learned state in the state file")
    state_commands = state.add_subparsers(dest="state_command", metavar="ACTION")
    state_commands.required = True
    reset = state_commands.add_parser(
        "reset", parents=[common], help="forget what a router or expert learned (traces and feedback stay)"
    )
    which = reset.add_mutually_exclusive_group(required=True)
    which.add_argument("--router", metavar="ID", help="this router starts again from its initial state")
    which.add_argument("--expert", metavar="NAME", help="delete this expert's saved state")
    which.add_argument("--all", action="store_true", help="every router and expert")
    reset.add_argument("--config", metavar="FILE", help="a himoe TOML config (its routers and [state] path)")
    reset.add_argument("--json", action="store_true", help="machine-readable output")
    reset.set_defaults(handler=_state_reset)
    migrate = state_commands.add_parser(
        "migrate", parents=[common], help="copy the state file into a PostgreSQL database that replicas share"
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="the target: postgresql://user@host:5432/db")
    migrate.add_argument("--from", dest="source", metavar="FILE", help="the state file (default: the configured one)")
    migrate.add_argument("--config", metavar="FILE", help="a himoe TOML config (for its [state] path)")
    migrate.add_argument("--json", action="store_true", help="machine-readable output")
    migrate.set_defaults(handler=_state_migrate)

    learn = add_command(
        "learn", help="train on the decision log that replicas share, and publish model snapshots to them"
    )
    learn.add_argument("--config", metavar="FILE", help="a himoe TOML config (its routers, experts and [state] url)")
    learn.add_argument("--once", action="store_true", help="consume the joined log, publish, and exit")
    learn.add_argument(
        "--every", type=_seconds, default=0.2, metavar="S", help="publish at most every S seconds (default 0.2)"
    )
    learn.add_argument("--batch", type=_positive_int, default=500, help="events per snapshot at most (default 500)")
    learn.set_defaults(handler=_learn)

    evaluate = add_command("evaluate", help="estimate offline how a router would do on logged decisions")
    evaluate.add_argument("--router", required=True, help="the candidate router (an id from the config)")
    evaluate.add_argument("--config", metavar="FILE", help="a himoe TOML config")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.set_defaults(handler=_evaluate)

    plugins = add_command("plugins", help="list the installed plugins and their load errors")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.add_argument("--all", action="store_true", help="include the built-in plugin")
    plugins.add_argument("--config", metavar="FILE", help="a himoe TOML config (its [plugins.*] tables)")
    plugins.set_defaults(handler=_plugins)

    new_plugin = add_command("new-plugin", help="generate a new expert plugin distribution, ready to install")
    new_plugin.add_argument("name", help="the plugin name, e.g. 'echo' -> distribution himoe-echo, package himoe_echo")
    new_plugin.add_argument(
        "--dir", metavar="DIR", help="the folder to create (default: ./himoe-NAME); it must not exist, or be empty"
    )
    new_plugin.add_argument(
        "--domain", default="general", help="the expert's domain: its folder experts/DOMAIN/ (default: general)"
    )
    new_plugin.set_defaults(handler=_new_plugin)

    add_serve_command(add_command)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--debug", action="store_true", default=default, help="show full tracebacks on errors")
    parser.add_argument(
        "--plugins-dir",
        metavar="DIR",
        default=None if default is False else default,
        help="also load every *.py plugin in DIR",
    )


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of milliseconds >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # `himoe` alone: show what it can do rather than an error
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    StderrLogHandler.install()  # the library logs its warnings; the command prints them, one line each
    try:
        return args.handler(args) or 0
    except BrokenPipeError:  # e.g. `himoe run … --json | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("himoe: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place a traceback is turned into a line
        report_error(exc, debug=args.debug)
        return 1


def report_error(exc: BaseException, *, debug: bool, prefix: str = "himoe: error: ") -> None:
    """One line on stderr (the traceback too with --debug)."""
    if debug:
        traceback.print_exc()
    elif isinstance(exc, MoeError):
        print(prefix + one_line(str(exc)), file=sys.stderr)
    else:
        print(
            prefix + one_line(f"{type(exc).__name__}: {exc}") + " (run with --debug for the traceback)", file=sys.stderr
        )


def _host(args: argparse.Namespace) -> PluginHost:
    from .._config.config_parsing import load_config
    from ..plugins import PluginHost

    config = load_config(args.config)
    return PluginHost(plugins_dir=args.plugins_dir or config["himoe"].get("plugins_dir"), config=config)


def _list_experts(args: argparse.Namespace) -> int:
    infos = _host(args).expert_infos()
    if args.json:
        _print_json([info.to_jsonable() for info in infos])
        return 0
    rows = [
        (str(i.id), i.name, i.domain, f"{i.plugin}=={i.version}" if i.version else i.plugin, i.description)
        for i in infos
    ]
    _print_table(("ID", "NAME", "DOMAIN", "PLUGIN", "DESCRIPTION"), rows)
    if not rows:
        print("no experts installed; install a plugin such as himoe-planning", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .._context.context import new_trace_id
    from .._input import InputData
    from .routing_commands import explanation, input_from_args, print_response, warm_up

    x = input_from_args(args)
    moe = _moe(args, args.config)
    trace_id = new_trace_id() if args.explain else None  # to find the trace of a failed request
    try:
        x = InputData.coerce(x, limits=moe.limits)  # refuse oversized input before loading any model
        warm_up(moe, x, out=None)  # the budget is for routing, not for importing spaCy
        response = moe.run_sync(x, budget_ms=args.budget_ms, router=args.router, k=args.k, trace_id=trace_id)
    except BaseException as exc:
        failed = moe.traces.get(trace_id) if trace_id is not None else None
        if args.explain and failed is not None and isinstance(exc, MoeError):
            # the routing table is most wanted when the request failed: on stdout, the error on stderr
            print(explanation(failed))
            sys.stdout.flush()
        with contextlib.suppress(StateError):  # the request's own error is the one to report
            moe.close()
        raise
    print_response(response, as_json=args.json, explain=args.explain)
    sys.stdout.flush()
    try:
        moe.close()
    except StateError as exc:
        # The answer is out; what failed is keeping its trace (so feedback on it will fail).
        report_error(exc, debug=args.debug, prefix="himoe: error: answered, but its trace was not saved: ")
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .routing_commands import run_demo

    return run_demo(_moe(args, args.config or _demo_config()))


def _demo_config() -> str:
    from importlib.resources import files

    return str(files("himoe_core.demo").joinpath("demo.toml"))


def _moe(args: argparse.Namespace, config: str | None) -> HiMoE:
    from .._engine import HiMoE

    moe = HiMoE(config=config, plugins_dir=args.plugins_dir)
    # A replica (`himoe serve`, an embedding app) starts without its store and waits for it; a
    # command's work would be lost: it stops here, naming the store.
    try:
        moe.trainer.require_store()
    except BaseException:
        moe.close()
        raise
    return moe


def _feedback(args: argparse.Namespace) -> int:
    from .._learning.feedback_values import check_feedback
    from .routing_commands import parse_expected, parse_pairs

    scores, shadows = parse_pairs(args.score, "--score"), parse_pairs(args.shadow, "--shadow")
    expected = parse_expected(args.expected)
    check_feedback(args.reward, args.task_loss, scores=scores, shadow_scores=shadows)  # before any state opens
    moe = _moe(args, args.config)
    try:
        summary = moe.feedback(
            args.trace_id,
            reward=args.reward,
            task_loss=args.task_loss,
            scores=scores or None,
            expected=expected,
            shadow_scores=shadows or None,
        )
    finally:
        moe.close()
    if args.json:
        _print_json(summary)
    else:
        head = f"feedback on {summary['trace_id']} (reward {summary['reward']:g}): "
        scored = ", ".join(sorted(summary["shadows"]["scores"])) if "shadows" in summary else ""
        if summary["repeat"]:
            print(head + "already learned from; nothing updated")
        elif not summary["first_feedback"]:
            print(head + f"shadows scored: {scored}; the decision itself was learned from before")
        else:
            updated = ", ".join(summary["experts_updated"]) or "none"
            learned = "updated" if summary["router_learns"] else "recorded (its kind does not learn)"
            print(
                head
                + f"router {summary['router']} {learned}; experts updated: {updated}"
                + (f"; shadows scored: {scored}" if scored else "")
            )
    return 0


def _stats(args: argparse.Namespace) -> int:
    from .routing_commands import print_stats

    moe = _moe(args, args.config)
    try:
        stats = moe.stats(window=args.window)
        stats["state"] = moe.trainer.location
    finally:
        moe.close()
    if args.json:
        _print_json(stats)
    else:
        print_stats(stats)
    return 0


def _state_migrate(args: argparse.Namespace) -> int:
    from .._config.config_parsing import load_config
    from ..state.state_copy import copy_state
    from ..state.state_location import check_state_url, is_url, redact_url, state_target

    url = check_state_url(args.to, "--to")
    if args.source is not None:
        source = args.source
    else:
        source = state_target(load_config(args.config)["state"])
        if is_url(source):
            raise ConfigError(
                f"the configured state is already a PostgreSQL store ({redact_url(str(source))}); "
                "give the SQLite file to copy with --from FILE"
            )
    copied = copy_state(source, url)
    if args.json:
        _print_json({"from": str(source), "to": redact_url(url), "copied": copied})
    else:
        print(
            f"copied {str(source)!r} into {redact_url(url)}: "
            + ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in copied.items())
        )
    return 0


def _learn(args: argparse.Namespace) -> int:
    from .._engine.learner import Learner

    def report(line: str) -> None:
        print(line, flush=True)

    learner = Learner(lambda: _moe(args, args.config), batch=args.batch, every_s=args.every, report=report)
    consumed = learner.run(once=args.once)
    print(f"learner done: consumed {consumed} events; snapshot {learner.version}", flush=True)
    return 0


def _state_reset(args: argparse.Namespace) -> int:
    moe = _moe(args, args.config)
    try:
        reset = moe.reset_state(router=args.router, expert=args.expert, everything=args.all)
        path = moe.trainer.location
    finally:
        moe.close()
    if args.json:
        _print_json({**reset, "state": path})
    elif args.router is not None:
        print(
            f"router {args.router}: "
            + (
                "learned state reset; it starts again from its initial state"
                if reset["routers"]
                else "nothing was saved; nothing to reset"
            )
        )
    else:
        print(
            f"reset in {path}: routers {', '.join(reset['routers']) or 'none'}; "
            f"experts {', '.join(reset['experts']) or 'none'} (traces and feedback kept)"
        )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    moe = _moe(args, args.config)
    try:
        result = moe.evaluate(args.router)
    finally:
        moe.close()
    if args.json:
        _print_json(result)
        return 0
    print(
        f"router {result['router']} on {result['n']} logged decisions "
        f"(logged mean reward {result['logged_mean_reward']:.3f}, effective sample size "
        f"{result['effective_sample_size']:.1f})"
    )
    rows = [
        (
            name.upper(),
            f"{result[name]['estimate']:.3f}",
            f"[{result[name]['ci95'][0]:.3f}, {result[name]['ci95'][1]:.3f}]",
        )
        for name in ("ips", "snips", "dr")
    ]
    _print_table(("ESTIMATOR", "MEAN REWARD", "95% CI"), rows)
    return 0


def _plugins(args: argparse.Namespace) -> int:
    infos = _host(args).plugins(include_builtins=args.all)
    if args.json:
        _print_json([info.to_jsonable() for info in infos])
        return 0
    rows = [
        (
            i.dist_name or i.name,
            i.version or "-",
            i.origin,
            ", ".join(i.hooks) or "-",
            f"ERROR: {i.error}" if i.error else "ok",
        )
        for i in infos
    ]
    _print_table(("PLUGIN", "VERSION", "ORIGIN", "HOOKS", "STATUS"), rows)
    return 0


def _new_plugin(args: argparse.Namespace) -> int:
    from .._scaffold import create_plugin, next_steps, plugin_names

    try:
        names = plugin_names(args.name, args.domain)
    except ValueError as exc:
        print(f"himoe: error: {exc}", file=sys.stderr)
        return 2
    try:
        target = create_plugin(args.name, args.dir, args.domain)
    except FileExistsError as exc:
        print(f"himoe: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"created {names['dist']} in {target}/ (package {names['package']}, expert {names['expert_name']} "
        f"in {names['package']}/experts/{args.domain}/{names['module']}.py)"
    )
    print(next_steps(args.name, target))
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
