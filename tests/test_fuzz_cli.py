"""CLI fuzzer (issue 17): random sequences of `himoe` commands — argv for every command, config
files (a working one with mutations: random types, nesting, Unicode, unknown keys; broken TOML;
a folder; a missing file), state files (absent, healthy, read-only, corrupt, damaged, truncated,
symlinked, a folder, readable by others, under a file), environment variables and feedback on
the traces the runs made — each run in this process by tests/conftest.py's `himoe_main`.

A canary secret sits in every secret-bearing field of a himoe-http expert (URL query, header
values, the key's environment variable; URL credentials and a pasted key in the mutations).
For every command:

- the exit code is 0, 1 or 2;
- no traceback reaches stderr without --debug;
- a failed command's stderr is one line (warnings aside), himoe's own message rather than a raw
  exception's ("… (run with --debug for the traceback)");
- the canary appears nowhere: stdout, stderr, the state file;
- a feedback row is added exactly when `himoe feedback` succeeds and is not a repeat;

and at the end a state file that started healthy passes `PRAGMA integrity_check` and holds the
trace of every run that printed its trace id.

Profiles: a short one runs with the suite and fails at the first broken invariant (hypothesis
shrinks it); `HIMOE_FUZZ_CASES=20000 HIMOE_FUZZ_KEEP_GOING=1` runs the long one, which counts
every broken invariant and lists them at the end (docs/reliability.md#fuzzing has the command and
its figures)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

if str(Path(__file__).parent) not in sys.path:  # --import-mode=importlib leaves tests/ off sys.path
    sys.path.insert(0, str(Path(__file__).parent))
from fuzz_profile import FUZZ, Tally  # noqa: E402

TALLY = Tally(
    "cli",
    "commands",
    "failed",
    "feedback rows",
    "state files",
    "tracebacks",
    "unclear errors",
    "bad exit codes",
    "inconsistent states",
    "canary leaks",
)
found = TALLY.broken  # a broken invariant (fails the case, or is counted in the long profile)

CANARY = "CANARYc0ffee42SECRET"
ROUTER_KINDS = ("static", "symbolic", "linear", "linucb", "thompson", "hybrid", "logistic")
EXPERTS = ("fz_alpha", "fz_beta", "fz_echo")
BASE_ENV = {
    "HIMOE_LOAD_PLUGINS": "fuzz-test-plugin,himoe-http",  # the other installed plugins stay out
    "CANARY_KEY": CANARY,
    "HIMOE_DISABLE_PLUGINS": None,
    "HIMOE_STRICT_PLUGINS": None,
    "HIMOE_TRACE_PLUGINS": None,
    "HIMOE_API_KEYS": None,
    "XDG_DATA_HOME": None,
}


def base_config(kind: str) -> dict[str, Any]:
    """A working config: a router of `kind` over the test plugin's experts, and a himoe-http
    expert (unreachable: 127.0.0.1:9) carrying the canary, for 'chat:' requests."""
    main: dict[str, Any] = {"kind": kind, "experts": list(EXPERTS), "k": 2}
    if kind in ("linear", "linucb", "thompson", "hybrid", "logistic"):
        main["encoder"] = {"id": "hashing", "dim": 8}
    return {
        "himoe": {"budget_ms": 2000},
        "routers": {"main": main, "http": {"experts": ["canary_http"]}, "plain": {"experts": ["fz_echo"]}},
        "orchestrator": {
            "default": "main",
            "rules": [{"task_prefix": "chat:", "router": "http", "fallbacks": ["plain"]}],
            "shadows": ["plain"],
        },
        "plugins": {
            "himoe-http": {
                "experts": {
                    "canary_http": {
                        "kind": "openai-chat",
                        "model": "m",
                        "url": f"http://127.0.0.1:9/v1?key={CANARY}",
                        "tasks": ["chat:"],
                        "api_key_env": "CANARY_KEY",
                        "headers": {"X-Token": f"t-{CANARY}"},
                        "max_retries": 0,
                    }
                }
            }
        },
    }


# -- TOML ----------------------------------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string (a lone surrogate makes it invalid TOML)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_text(config: dict[str, Any]) -> str:
    """Top-level tables as [tables] (nested ones dotted), everything below as inline values."""
    lines = []
    for name, table in config.items():
        if not isinstance(table, dict):
            lines.append(f"{json.dumps(name)} = {toml_value(table)}")
    for name, table in config.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(name)}]")
            lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


# -- strategies ----------------------------------------------------------------------------------------------
def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, odds: int = 6) -> st.SearchStrategy:
    """`good` about `odds` times in `odds + 1`, else `bad`: most commands get far enough to route
    and learn, and every part is still sometimes wrong."""
    return st.integers(0, odds).flatmap(lambda i: good if i < odds else bad)


NASTY = ["x\udce9", "a\x00b", "two\nlines", "\u202eevil", "💥", "x" * 300, "-1e-3", "--", "-", "%s", "~nosuchuser/x"]
any_text = st.one_of(st.text(st.characters(exclude_categories=()), max_size=20), st.sampled_from(NASTY))
toml_scalar = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(["*", "fz_alpha", "static", "linucb", "hashing", "chat:", ""]),
)
toml_any = st.recursive(
    toml_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
CONFIG_PATHS = [
    ("himoe", "budget_ms"),
    ("himoe", "cost_budget"),
    ("himoe", "max_in_flight"),
    ("himoe", "trace_capacity"),
    ("limits", "max_text_chars"),
    ("limits", "max_task_chars"),
    ("routers", "main", "kind"),
    ("routers", "main", "k"),
    ("routers", "main", "experts"),
    ("routers", "main", "encoder"),
    ("routers", "main", "gating"),
    ("routers", "main", "alpha"),
    ("routers", "main", "aggregator"),
    ("routers", "main", "weights"),
    ("orchestrator", "default"),
    ("orchestrator", "rules"),
    ("orchestrator", "shadows"),
    ("state", "flush_every"),
    ("state", "max_traces"),
    ("plugins", "himoe-http", "experts", "canary_http", "url"),
    ("plugins", "himoe-http", "experts", "canary_http", "api_key_env"),
    ("plugins", "himoe-http", "experts", "canary_http", "headers"),
    ("plugins", "himoe-http", "experts", "canary_http", "max_retries"),
    ("serve", "port"),
    ("nonsense",),
]
SECRET_MUTATIONS = [
    {"url": f"http://user:{CANARY}@127.0.0.1:9/v1"},
    {"url": f"http://user:{CANARY}@127.0.0.1:99999/v1"},
    {"url": f"ftp://127.0.0.1/v1?key={CANARY}"},
    {"url": f"http://127.0.0.1:9/v 1?token={CANARY}"},
    {"api_key_env": f"sk-{CANARY}"},
    {"api_key_env": [CANARY]},
    {"headers": {"X-Key": f"{CANARY}\nx"}},
    {"headers": {"X-Key": [CANARY]}},
    {"auth_header": "X-Token"},
]


@st.composite
def configs(draw) -> tuple[str, Any]:
    """('none', None) | ('toml', text) | ('file', raw text) | ('folder', None) | ('missing', None)."""
    how = draw(mostly(st.just("toml"), st.sampled_from(["none", "raw", "folder", "missing"]), odds=5))
    if how == "raw":
        raw = draw(
            st.one_of(
                st.text(max_size=60),
                st.sampled_from(["a = " + "[" * 200 + "]" * 200, "[routers.x\n", "= 1", "[[routers]]\nx = 1", "\x00"]),
            )
        )
        return how, raw
    if how != "toml":
        return how, None
    config = base_config(draw(st.sampled_from(ROUTER_KINDS)))
    for _ in range(draw(mostly(st.just(0), st.integers(1, 3), odds=2))):
        path = draw(st.sampled_from(CONFIG_PATHS))
        table = config
        for key in path[:-1]:
            table = table.setdefault(key, {}) if isinstance(table.get(key, {}), dict) else {}
        if draw(st.booleans()) and path[-1] in table:
            del table[path[-1]]
        else:
            table[path[-1]] = draw(toml_any)
    if draw(st.integers(0, 4)) == 0:
        config["plugins"]["himoe-http"]["experts"]["canary_http"].update(draw(st.sampled_from(SECRET_MUTATIONS)))
    return how, toml_text(config)


STATES = [
    "absent",
    "absent",
    "healthy",
    "healthy",
    "healthy",
    "dangling_symlink",
    "read_only",
    "others_can_read",
    "garbage",
    "damaged",
    "truncated",
    "empty",
    "folder",
    "under_a_file",
    "symlink_to_folder",
]
HEALTHY_STARTS = {"absent", "healthy", "dangling_symlink", "empty"}

run_argv = st.tuples(
    mostly(st.sampled_from(["hello", "chat: hi", "plan: a then b", "x " * 30]), any_text | st.just(""), odds=3),
    st.lists(
        mostly(
            st.sampled_from(
                [
                    ["--json"],
                    ["--json"],
                    ["--explain"],
                    ["--task", "chat:"],
                    ["--budget-ms", "500"],
                    ["--router", "main"],
                    ["--router", "plain"],
                    ["--k", "1"],
                    ["--k", "99"],
                    ["--features", "FEATURES"],
                    ["--bytes", "BYTES"],
                    ["--context", "tenant=acme"],
                    ["--context", "n:=3.5"],
                ]
            ),
            st.sampled_from(
                [
                    ["--budget-ms", "-1"],
                    ["--budget-ms", "nan"],
                    ["--budget-ms", "1e400"],
                    ["--router", "nope"],
                    ["--k", "0"],
                    ["--features", "MISSING"],
                ]
            )
            | st.tuples(st.sampled_from(["--task", "--router", "--budget-ms", "--k", "--context"]), any_text).map(list)
            | st.sampled_from(
                [["--context", "n:=nan"], ["--context", "=x"], ["--context", "k:=[1]"], ["--context", "a"]]
            ),
            odds=3,
        ),
        max_size=3,
    ),
).map(lambda t: ["run", t[0], *[a for opt in t[1] for a in opt]])

feedback_argv = st.tuples(
    mostly(st.just("KNOWN"), any_text, odds=5),
    mostly(
        st.one_of(
            st.sampled_from(["1", "0", "0.5", "-0.25", "1e-3"]).map(lambda v: ["--reward", v]),
            st.sampled_from(["0", "0.7"]).map(lambda v: ["--task-loss", v]),
        ),
        st.one_of(
            st.sampled_from(["1e308", "nan", "inf", "-1e-3", "abc", "1001"]).map(lambda v: ["--reward", v]),
            st.just(["--reward", "1", "--task-loss", "0"]),
            st.just([]),
        ),
        odds=4,
    ),
    st.lists(
        st.sampled_from(
            [
                ["--score", "fz_alpha=1"],
                ["--score", "fz_beta=0"],
                ["--score", "nobody=1"],
                ["--score", "bad"],
                ["--shadow", "plain=0.5"],
                ["--shadow", "nope=1"],
                ["--expected", '{"label": 3}'],
                ["--expected", "[" * 100 + "]" * 100],
                ["--expected", "not json"],
                ["--json"],
            ]
        ),
        max_size=2,
    ),
).map(lambda t: ["feedback", t[0], *t[1], *[a for opt in t[2] for a in opt]])

other_argv = st.one_of(
    st.sampled_from(
        [
            ["stats"],
            ["stats", "--json"],
            ["stats", "--window", "1"],
            ["stats", "--window", "0"],
            ["list-experts"],
            ["list-experts", "--json"],
            ["plugins"],
            ["plugins", "--json", "--all"],
            ["state", "reset", "--router", "main"],
            ["state", "reset", "--router", "nope"],
            ["state", "reset", "--expert", "fz_alpha"],
            ["state", "reset", "--all", "--json"],
            ["state", "reset"],
            ["evaluate", "--router", "main"],
            ["evaluate", "--router", "plain", "--json"],
            ["evaluate", "--router", "nope"],
            ["new-plugin", "fuzzy", "--dir", "NEWDIR"],
            ["new-plugin", "Bad Name!", "--dir", "NEWDIR"],
            ["new-plugin", "fuzzy", "--dir", "NEWDIR", "--domain", "../x"],
            ["serve", "--port", "99999"],
            ["serve", "--port", "http"],
            ["serve", "--config", "MISSING"],
            ["demo", "--config", "MISSING"],
            ["nosuchcommand"],
            ["run", "--nosuchoption"],
            ["--version"],
            [],
        ]
    ),
    st.lists(any_text, max_size=4),
    st.tuples(st.sampled_from(["state", "stats", "evaluate", "feedback", "list-experts"]), any_text).map(list),
)
command = st.tuples(
    st.sampled_from(["run", "run", "run", "feedback", "feedback", "feedback", "other"]).flatmap(
        {"run": run_argv, "feedback": feedback_argv, "other": other_argv}.__getitem__
    ),
    mostly(st.just(False), st.just(True), odds=8),  # --debug
    mostly(st.just("ours"), st.sampled_from(["a file", "missing", "none"]), odds=10),  # --plugins-dir
    mostly(st.just(True), st.just(False), odds=4),  # give --config
)
environment = st.fixed_dictionaries(
    {},
    optional={
        "HIMOE_STRICT_PLUGINS": st.sampled_from(["1", "0", "yes"]),
        "HIMOE_DISABLE_PLUGINS": st.sampled_from(["himoe-http", "fuzz-test-plugin", "", ","]),
        "HIMOE_TRACE_PLUGINS": st.just("1"),
        "CANARY_KEY": st.sampled_from(["", CANARY + "\n"]),
        "HIMOE_STATE": st.sampled_from(["", "~nosuchuser-himoe/x", "relative.sqlite3"]),
    },
)


# -- one case ------------------------------------------------------------------------------------------------
class Case:
    def __init__(self, root: Path, plugins: Path, state: str, config: tuple[str, Any], env: dict[str, str]) -> None:
        self.root, self.plugins = root, plugins
        self.state = root / "state.sqlite3"
        self.config_path = root / "himoe.toml"
        self.env = {**BASE_ENV, "HIMOE_STATE": str(self.state), **env}
        self.healthy = state in HEALTHY_STARTS and "HIMOE_STATE" not in env
        self.trace_ids: list[str] = []
        self.feedback_rows = 0
        (root / "FEATURES").write_text("1, 2, 3")
        (root / "BYTES").write_bytes(b"\x00\xff")
        how, text = config
        self.start, self.config_text = state, text
        self.history: list[list[str]] = []
        if how in ("toml", "raw"):
            self.config_path.write_text(text, encoding="utf-8", errors="surrogateescape")
        elif how == "folder":
            self.config_path.mkdir()
        self.config = None if how == "none" else str(self.config_path)
        # A config whose [state] was mutated may point elsewhere or turn the file off.
        self.counted = self.healthy and (how != "toml" or '"state"' not in text)
        self.make_state(state)

    def make_state(self, state: str) -> None:
        path = self.state
        if state in ("healthy", "read_only", "others_can_read", "damaged", "truncated"):
            from himoe_core import HiMoE
            from himoe_core.testing import EchoExpert

            with HiMoE(
                experts=[EchoExpert("fz_old")], entry_points=False, config={"state": {"path": str(path)}}
            ) as moe:
                for i in range(40 if state in ("damaged", "truncated") else 3):
                    moe.run_sync(f"old request {i} " + "x" * 400)
        if state == "read_only":
            os.chmod(path, 0o400)
        elif state == "others_can_read":
            os.chmod(path, 0o644)
        elif state == "damaged":
            size = path.stat().st_size
            with open(path, "r+b") as f:
                f.seek(size // 2)
                f.write(b"\xab" * (size - size // 2))
        elif state == "truncated":
            with open(path, "r+b") as f:
                f.truncate(path.stat().st_size // 3)
        elif state == "garbage":
            path.write_bytes(b"not a database " * 50)
            os.chmod(path, 0o600)
        elif state == "empty":
            path.touch(mode=0o600)
        elif state == "folder":
            path.mkdir()
        elif state == "dangling_symlink":
            path.symlink_to(self.root / "target.sqlite3")
        elif state == "symlink_to_folder":
            (self.root / "afolder").mkdir()
            path.symlink_to(self.root / "afolder")
        elif state == "under_a_file":
            (self.root / "afile").write_text("")
            self.env["HIMOE_STATE"] = str(self.root / "afile" / "state.sqlite3")

    def argv(self, argv: list[str], debug: bool, plugins: str, with_config: bool) -> list[str]:
        known = self.trace_ids[-1] if self.trace_ids else "no-such-trace"
        argv = [
            {"KNOWN": known, "NEWDIR": str(self.root / "newplugin"), "MISSING": str(self.root / "missing")}.get(a, a)
            for a in argv
        ]
        argv = [str(self.root / a) if a in ("FEATURES", "BYTES") else a for a in argv]
        head = ["--debug"] if debug else []
        head += (
            [
                "--plugins-dir",
                str(self.root / "BYTES")
                if plugins == 0
                else str(self.root / "nodir")
                if plugins == 1
                else str(self.plugins),
            ]
            if plugins != 2
            else []
        )
        tail = (
            ["--config", self.config]
            if with_config
            and self.config
            and argv[:1] in (["run"], ["feedback"], ["stats"], ["list-experts"], ["plugins"], ["evaluate"])
            else []
        )
        if argv[:2] == ["state", "reset"] and with_config and self.config:
            tail = ["--config", self.config]
        return [*head, *argv, *tail]

    def run(self, himoe_main, command: list[str], debug: bool, plugins: str, with_config: bool) -> None:
        TALLY.add("commands")
        argv = self.argv(command, debug, plugins, with_config)
        rows_before = self.count("feedback")
        result = himoe_main(argv, env=self.env)
        self.history.append(argv[argv.index("--plugins-dir") + 2 :] if "--plugins-dir" in argv else argv)
        where = (
            f"himoe {argv!r} (env {self.env_shown()}, state {self.start!r}, config {self.config_text!r}, "
            f"commands so far {self.history!r})"
        )
        debug = "--debug" in argv
        if result.code not in (0, 1, 2):
            found("bad exit codes", f"{where}: exit code {result.code}")
        if not debug and "Traceback" in result.err:
            found("tracebacks", f"{where}: {result.err}")
        if CANARY in result.out + result.err:
            found("canary leaks", f"{where}: {result.out + result.err}")
        lines = [line for line in result.err.splitlines() if not line.startswith("himoe: warning:")]
        if result.code != 0:
            TALLY.add("failed")
            if not debug and not self.env.get("HIMOE_TRACE_PLUGINS"):
                if len(lines) != 1:
                    found("unclear errors", f"{where}: stderr is not one line: {result.err!r}")
                elif "(run with --debug for the traceback)" in lines[0]:
                    found("unclear errors", f"{where}: a raw exception: {lines[0]}")
        learned = (
            command[:1] == ["feedback"]
            and result.code == 0
            and not ('"repeat": true' in result.out or "already learned from" in result.out)
        )
        self.feedback_rows += learned
        rows = self.count("feedback")
        if self.counted and rows != rows_before + learned:
            found("inconsistent states", f"{where}: {rows} feedback rows, not {rows_before + learned}: {result}")
            self.feedback_rows = rows
        if result.code == 0 and command[:1] == ["run"]:
            options = argv[: argv.index("--")] if "--" in argv else argv  # after "--", "--json" is the request text
            if "--json" in options:
                self.trace_ids.append(json.loads(result.out)["trace_id"])
            elif self.counted and self.state.exists():  # for feedback to score: the newest trace
                with contextlib.closing(sqlite3.connect(f"file:{self.state}?mode=ro", uri=True)) as db:
                    newest = db.execute("SELECT trace_id FROM traces ORDER BY rowid DESC LIMIT 1").fetchone()
                self.trace_ids.append(newest[0])

    def env_shown(self) -> dict[str, Any]:
        return {k: v for k, v in self.env.items() if v is not None and BASE_ENV.get(k, "") != v and k != "HIMOE_STATE"}

    def count(self, table: str) -> int:
        if not self.counted or not self.state.exists():
            return 0
        db = sqlite3.connect(f"file:{self.state}?mode=ro", uri=True)
        try:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.OperationalError as exc:  # an empty file, before himoe made it a state file
            assert "no such table" in str(exc), exc
            return 0
        finally:
            db.close()

    def check(self) -> None:
        for file in self.root.rglob("*.sqlite3*"):
            if file.is_file() and CANARY.encode() in file.read_bytes():
                found("canary leaks", f"the canary is in {file.name}")
        target = self.root / "target.sqlite3" if self.state.is_symlink() else self.state
        if not self.counted or not target.is_file() or target.stat().st_size == 0:
            return
        TALLY.add("state files")
        with contextlib.closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            stored = {row[0] for row in db.execute("SELECT trace_id FROM traces")}
            rows = db.execute("SELECT count(*) FROM feedback").fetchone()[0]
        missing = sorted(set(self.trace_ids) - stored)
        for problem in (
            f"integrity_check: {integrity}" if integrity != "ok" else "",
            f"{rows} feedback rows, not {self.feedback_rows}" if rows != self.feedback_rows else "",
            f"runs that printed a trace id without their trace in the file: {missing}" if missing else "",
        ):
            if problem:
                found("inconsistent states", problem)


@pytest.fixture(scope="module")
def fuzz_root():
    root = Path(tempfile.mkdtemp(prefix="himoe-fuzz-cli-"))  # 0700: plugins_dir's checks accept it
    yield root
    shutil.rmtree(root, ignore_errors=True)


@FUZZ
@given(
    state=mostly(st.sampled_from(["absent", "healthy"]), st.sampled_from(STATES), odds=2),
    config=configs(),
    env=mostly(st.just({}), environment, odds=4),
    commands=st.tuples(
        mostly(st.just([(["run", "hello", "--json"], False, "ours", True)]), st.just([])),
        st.lists(command, min_size=1, max_size=4),
    ).map(lambda t: t[0] + t[1]),
)
def test_fuzz_cli(himoe_main, cli_plugins_dir, fuzz_root, state, config, env, commands):
    TALLY.case()
    root = Path(tempfile.mkdtemp(dir=fuzz_root))
    cwd = os.getcwd()
    try:
        os.chdir(root)  # `new-plugin` without --dir and relative HIMOE_STATE land here
        case = Case(root, cli_plugins_dir, state, config, env)
        for command_argv, debug, plugins, with_config in commands:
            case.run(himoe_main, command_argv, debug, plugins, with_config)
        case.check()
        TALLY.add("feedback rows", case.feedback_rows)
    finally:
        os.chdir(cwd)
        for path in root.rglob("*"):
            if not path.is_symlink():
                os.chmod(path, 0o700)
        shutil.rmtree(root, ignore_errors=True)


_report = TALLY.report_fixture(
    lambda t: (
        f"fuzz cli: {t['cases']} cases, {t['commands']} commands ({t['failed']} failed), {t['feedback rows']} "
        f"feedback rows and {t['state files']} state files checked; {t['tracebacks']} tracebacks, "
        f"{t['unclear errors']} unclear errors, {t['bad exit codes']} bad exit codes, "
        f"{t['inconsistent states']} inconsistent states, {t['canary leaks']} canary leaks"
    )
)
