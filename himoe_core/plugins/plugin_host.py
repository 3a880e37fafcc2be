from __future__ import annotations

import logging
import os
import shlex
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pluggy
from himoe_registry import (
    PluginSource,
    Registry,
    RegistryError,
    discover_entry_points,
    load_directory,
    normalize_dist_name,
)

from .._config.config_parsing import TOP_KEYS
from .._errors import ConfigError, PluginError
from .._experts.expert_info import ExpertInfo, check_declarations
from .._version import __version__
from . import hookspecs
from .markers import PROJECT
from .plugin_info import PluginInfo
from .plugin_settings import BUILTIN_NAME, PluginSettings

HOOKS = (
    "register_experts",
    "register_routers",
    "register_aggregators",
    "register_orchestrators",
    "register_encoders",
    "register_config_tables",
)


logger = logging.getLogger("himoe.plugins")


class PluginHost:
    """A per-instance pluggy PluginManager, loaded explicitly, and what its plugins registered.

    Loads, in this order: the built-in plugin, installed distributions' ``himoe`` entry points,
    ``*.py`` files of `plugins_dir`, and the `plugins` objects given (modules or instances with
    ``@hookimpl`` methods — how tests add a plugin without installing it). A plugin that fails to
    import or whose hook raises is left out with one warning naming it and its version, logged to
    ``himoe.plugins`` (an application routes or silences it with `logging`; the CLI prints it as
    one line),
    unless strict mode (``HIMOE_STRICT_PLUGINS=1`` or `strict=True`) makes it a PluginError.

    `config` is the whole himoe config; each plugin's ``register_experts`` receives its own
    ``[plugins.<distribution>]`` table.
    """

    def __init__(
        self,
        *,
        plugins: Iterable[Any] = (),
        entry_points: bool = True,
        plugins_dir: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        search_path: list[str] | None = None,
        strict: bool | None = None,
        config: Mapping[str, Any] | None = None,
        warn: Callable[[str], None] = logger.warning,
    ) -> None:
        self.settings = PluginSettings.from_environ(os.environ if environ is None else environ)
        self.strict = self.settings.strict if strict is None else strict
        self._warn = warn
        # Keyed by normalised distribution name: [plugins.himoe_nlp] configures himoe-nlp too.
        self._plugin_config = {normalize_dist_name(k): v for k, v in (config or {}).get("plugins", {}).items()}
        self._config = config
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if self.settings.trace:
            self.pm.add_hookcall_monitoring(_trace_call, _trace_result)
        self._infos: dict[str, PluginInfo] = {}
        self.experts: Registry[Any] = Registry(kind="expert")
        self.router_kinds: dict[str, Callable[..., Any]] = {}
        self.aggregators: dict[str, Any] = {}
        self.orchestrator_kinds: dict[str, Callable[..., Any]] = {}
        self.encoders: dict[str, Any] = {}
        self.config_tables: dict[str, Any] = {}
        self._owners: dict[tuple[str, str], str] = {}

        if self.settings.builtins_enabled():
            from . import default_plugin

            self._add(default_plugin, PluginInfo(BUILTIN_NAME, BUILTIN_NAME, __version__, "builtin"))
        if entry_points:
            for source in discover_entry_points(
                PROJECT, path=search_path, allow=self.settings.allow, deny=self.settings.deny
            ):
                self._add_source(source)
        if plugins_dir is not None:
            check_plugins_dir(plugins_dir)
            try:
                # filtered before import: a plugin the settings leave out never runs
                sources = load_directory(plugins_dir, allow=self.settings.allow, deny=self.settings.deny)
            except FileNotFoundError as exc:
                raise PluginError(f"plugins folder not found: {exc}; check --plugins-dir") from None
            for source in sources:
                if self.settings.allows(source.name):
                    self._add_source(source)
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or getattr(plugin, "name", None) or type(plugin).__name__
            self._add(plugin, PluginInfo(str(name), origin="object"))
        self._collect()
        self._replace_experts()
        self._check_config_tables()

    # -- loading -------------------------------------------------------------------------------
    def _add_source(self, source: PluginSource) -> None:
        info = PluginInfo(source.name, source.dist_name, source.version, source.origin, error=source.error)
        if source.error is not None:
            self._fail(info, f"failed to load: {source.error}")
            return
        self._add(source.module, info)

    def _key(self, info: PluginInfo) -> str:
        """A name no other plugin of this host has (two plugins may share a dist or class name)."""
        base = info.dist_name or info.name
        key = base
        if key in self._infos:
            key = f"{base}:{info.name}"
        count = 1
        while key in self._infos:
            count += 1
            key = f"{base}:{info.name}:{count}"
        return key

    def _add(self, plugin: Any, info: PluginInfo) -> None:
        key = self._key(info)
        try:
            self.pm.register(plugin, name=key)
            self.pm.check_pending()
        except Exception as exc:  # pluggy rejects malformed hookimpls (unknown hook, bad args)
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(info, f"is not a valid plugin: {_one_line(exc)}", key)
            return
        hooks = tuple(sorted(impl.name for impl in (self.pm.get_hookcallers(plugin) or [])))
        self._infos[key] = _evolve(info, hooks=hooks)

    def _fail(self, info: PluginInfo, what: str, key: str | None = None) -> None:
        """Record `info` as failed under `key` (its own entry; a new one when it has none yet)."""
        message = f"plugin {info.label!r} {what}"
        key = self._key(info) if key is None else key
        self._infos[key] = _evolve(info, error=info.error or what)
        if self.strict:
            raise PluginError(message + " (HIMOE_STRICT_PLUGINS is set)")
        self._warn(f"{message}; it is ignored (HIMOE_STRICT_PLUGINS=1 makes this an error)")

    # -- collecting ------------------------------------------------------------------------------
    def _collect(self) -> None:
        """Call each plugin's hooks on its own, so that one raising leaves the others intact.

        A plugin's registrations are staged and committed only when all its hooks succeeded.
        """
        for key, info in list(self._infos.items()):
            plugin = self.pm.get_plugin(key)
            if plugin is None:
                continue
            staged: list[tuple[str, tuple[Any, ...]]] = []
            try:
                for hook in HOOKS:
                    if hook in info.hooks:
                        others = [p for p in self.pm.get_plugins() if p is not plugin]
                        caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
                        kwargs = {"register": lambda *args, _hook=hook: staged.append((_hook, args))}  # noqa: B023 (one staging list per plugin)
                        if hook == "register_experts":
                            kwargs["config"] = self._plugin_config.get(
                                normalize_dist_name(info.dist_name or info.name), {}
                            )
                        caller(**kwargs)
            except ConfigError:
                raise  # the user's config is wrong, not the plugin: say so, whatever the mode
            except Exception as exc:
                self.pm.unregister(plugin)
                self._fail(info, f"raised in a hook: {_one_line(exc)}", key)
                continue
            for hook, args in staged:
                getattr(self, "_" + hook)(info, *args)

    def _register_experts(self, info: PluginInfo, expert: Any) -> None:
        _check_expert(info, expert)
        try:
            name: Any = getattr(expert, "name", None)  # a missing or non-str name is Registry.add's InvalidName
            self.experts.add(name, expert, source=info.label)
        except RegistryError as exc:
            raise PluginError(f"plugin {info.label!r}: {exc}") from None

    def _register_config_tables(self, info: PluginInfo, name: Any) -> None:
        if name in TOP_KEYS:
            raise PluginError(f"plugin {info.label!r} claimed the config table [{name}], which is himoe's own")
        self._put("config_tables", info, name, info.label)

    def _replace_experts(self) -> None:
        """Each plugin's ``replace_experts`` on its own, after every plugin registered: staged, and
        committed only when the hook succeeded; a plugin whose hook raises is left out whole."""
        replaced_by: dict[str, str] = {}
        for key, info in list(self._infos.items()):
            plugin = self.pm.get_plugin(key)
            if plugin is None or "replace_experts" not in info.hooks:
                continue
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            caller = self.pm.subset_hook_caller("replace_experts", remove_plugins=others)
            replacements: list[Any] = []
            additions: list[Any] = []
            snapshot = {name: expert for _, name, expert in self.experts.items()}
            try:
                caller(
                    experts=snapshot, replace=replacements.append, register=additions.append, config=self._config or {}
                )
            except ConfigError:
                raise
            except Exception as exc:
                self.pm.unregister(plugin)
                self._drop(info)
                self._fail(info, f"raised in a hook: {_one_line(exc)}", key)
                continue
            rebuilt: Registry[Any] = Registry(kind="expert")
            by_name = {getattr(expert, "name", None): expert for expert in replacements}
            for name, expert in by_name.items():
                if name not in snapshot:
                    raise PluginError(f"plugin {info.label!r} replaced the expert {name!r}, which is not registered")
                if name in replaced_by:
                    raise PluginError(
                        f"expert {name!r} is replaced twice: by {replaced_by[name]!r} and by "
                        f"{info.label!r}; disable one plugin with HIMOE_DISABLE_PLUGINS"
                    )
                _check_expert(info, expert)
                replaced_by[name] = info.label
            for _, name, expert in self.experts.items():
                rebuilt.add(name, by_name.get(name, expert), source=self._source(name))
            self.experts = rebuilt
            for expert in additions:
                self._register_experts(info, expert)

    def _drop(self, info: PluginInfo) -> None:
        """Forget what `info`'s plugin registered (its later hook raised)."""
        rebuilt: Registry[Any] = Registry(kind="expert")
        for _, name, expert in self.experts.items():
            if self._source(name) != info.label:
                rebuilt.add(name, expert, source=self._source(name))
        self.experts = rebuilt
        for (table, name), owner in list(self._owners.items()):
            if owner == info.label:
                del getattr(self, table)[name]
                del self._owners[(table, name)]

    def _source(self, name: str) -> str:
        """The label of the plugin that registered the expert `name` (registered, by the caller's loop)."""
        source = self.experts.source_of(name)
        assert source is not None, f"expert {name!r} is registered"
        return source

    def _check_config_tables(self) -> None:
        for name in sorted(set(self._config or {}) - TOP_KEYS - set(self.config_tables)):
            claimed = ", ".join(f"{table} ({owner})" for table, owner in sorted(self.config_tables.items()))
            raise ConfigError(
                f"{name}: unknown key; known keys here: {', '.join(sorted(TOP_KEYS))}"
                f"{'; tables of loaded plugins: ' + claimed if claimed else ''} (a table a plugin "
                "reads is known only while that plugin is installed and loads: `himoe plugins --all`)"
            )

    def _register_routers(self, info: PluginInfo, kind: str, factory: Callable[..., Any]) -> None:
        self._put("router_kinds", info, kind, factory)

    def _register_aggregators(self, info: PluginInfo, aggregator: Any) -> None:
        self._put("aggregators", info, getattr(aggregator, "id", None), aggregator)

    def _register_orchestrators(self, info: PluginInfo, kind: str, factory: Callable[..., Any]) -> None:
        self._put("orchestrator_kinds", info, kind, factory)

    def _register_encoders(self, info: PluginInfo, encoder: Any) -> None:
        self._put("encoders", info, getattr(encoder, "id", None), encoder)

    def _put(self, table: str, info: PluginInfo, name: Any, item: Any) -> None:
        what = table.removesuffix("s").replace("_", " ")
        if not isinstance(name, str) or not name:
            article = "an" if what[0] in "aeiou" else "a"
            raise PluginError(f"plugin {info.label!r} registered {article} {what} without a string id: {item!r}")
        owner = self._owners.get((table, name))
        if owner is not None:
            raise PluginError(
                f"{what} {name!r} is registered twice: by {owner!r} and by {info.label!r}; "
                "disable one plugin with HIMOE_DISABLE_PLUGINS"
            )
        getattr(self, table)[name] = item
        self._owners[(table, name)] = info.label

    # -- reading -----------------------------------------------------------------------------------
    def plugins(self, *, include_builtins: bool = False) -> list[PluginInfo]:
        """Every plugin seen, loaded or failed, sorted by name (built-ins only when asked)."""
        infos = [i for i in self._infos.values() if include_builtins or i.origin != "builtin"]
        return sorted(infos, key=lambda i: (i.origin == "builtin", (i.dist_name or i.name).lower()))

    def failures(self) -> list[PluginInfo]:
        """The plugins that failed to load or whose hook raised."""
        return [info for info in self._infos.values() if not info.ok]

    def expert_infos(self) -> list[ExpertInfo]:
        """Every registered expert, sorted by name."""
        by_label = {info.label: info for info in self._infos.values()}
        infos = []
        for eid, name, item in self.experts.items():
            plugin = by_label[self._source(name)]
            infos.append(ExpertInfo.describe(eid, item, plugin.dist_name or plugin.name, plugin.version))
        return infos


def check_plugins_dir(plugins_dir: str | os.PathLike[str]) -> None:
    """Refuse a plugins folder that other users could slip code into, as ssh refuses such a key
    file: every *.py in it runs, with this process's rights. The folder, its *.py files and the
    folders above it must not be writable by group or others (a sticky folder such as /tmp is
    fine), and must belong to this user or root."""
    folder = Path(plugins_dir)
    if not folder.exists():
        raise PluginError(f"plugins folder not found: {str(folder)!r}; check --plugins-dir or [himoe] plugins_dir")
    if not folder.is_dir():
        raise PluginError(
            f"plugins folder {str(folder)!r} is a file, not a folder; check --plugins-dir or [himoe] plugins_dir"
        )
    real = folder.resolve()
    for path in [real, *sorted(real.glob("*.py"))]:
        _refuse_if_others_can_write(path, folder)
    for parent in real.parents:
        info = parent.stat()
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            _refuse_if_others_can_write(parent, folder)


def _refuse_if_others_can_write(path: Path, folder: Path) -> None:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    what = "plugins folder" if path.is_dir() else "plugin file"
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PluginError(
            f"{what} {str(path)!r} can be written by other users (mode {mode:04o}), and every *.py in "
            f"{str(folder)!r} runs as you; make it yours only (chmod go-w {shlex.quote(str(path))})"
        )
    if info.st_uid not in (os.geteuid(), 0):
        raise PluginError(
            f"{what} {str(path)!r} belongs to another user (uid {info.st_uid}), and every *.py in "
            f"{str(folder)!r} runs as you; use a folder of your own"
        )


def _check_expert(info: PluginInfo, expert: Any) -> None:
    declares = getattr(expert, "handles", None) or getattr(expert, "input_kinds", None)
    for attribute in ("infer",) if declares else ("can_handle", "infer"):
        if not callable(getattr(expert, attribute, None)):
            raise PluginError(
                f"plugin {info.label!r} registered {expert!r}, which has no {attribute}() method; "
                "an expert needs name, can_handle(task) (or declares handles / input_kinds) and infer(x, ctx)"
            )
    problem = check_declarations(expert)
    if problem is not None:
        raise PluginError(f"plugin {info.label!r} registered expert {getattr(expert, 'name', expert)!r}: {problem}")


def _one_line(exc: BaseException) -> str:
    """`Type: message` on one line (pluggy's and plugins' messages may span several)."""
    try:
        message = " ".join(str(exc).split())
    except Exception:  # a plugin's exception with a broken __str__
        message = "<unprintable error>"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _evolve(info: PluginInfo, **changes: Any) -> PluginInfo:
    return attrs.evolve(info, **changes)


def _trace_call(hook_name: str, methods: Any, kwargs: Mapping[str, Any]) -> None:
    """HIMOE_TRACE_PLUGINS: a hook call, its arguments by name and the plugins that implement it.
    Never the argument values (pluggy's own tracing prints them): `config` holds each plugin's
    table, secrets included (himoe-http's URL query keys and headers)."""
    plugins = ", ".join(impl.plugin_name for impl in reversed(methods)) or "none"
    sys.stderr.write(f"himoe: hook {hook_name}({', '.join(kwargs)}) -> {plugins}\n")


def _trace_result(outcome: Any, hook_name: str, methods: Any, kwargs: Mapping[str, Any]) -> None:
    error = outcome.exception
    ended = "done" if error is None else f"raised {type(error).__name__}"
    sys.stderr.write(f"himoe: hook {hook_name} {ended}\n")
