"""`himoe serve`: what the core CLI calls once it has found this distribution."""

from __future__ import annotations

import argparse
import functools
import logging
import sys

import trio

from himoe_core import ConfigError, HiMoE

from .api_keys import ApiKeys
from .serve_settings import ServeSettings
from .server import serve_forever

log = logging.getLogger("himoe.serve")


def run_command(args: argparse.Namespace) -> int:
    config = HiMoE.load_config(args.config)
    settings = ServeSettings.from_config(
        config, host=args.host, port=args.port, allow_public_without_keys=args.allow_public_without_keys or None
    )
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    keys = ApiKeys.load(settings.keys_file)
    settings.check_exposure(bool(keys))  # before any plugin loads
    if not keys and not settings.is_loopback():
        log.warning("himoe serve: listening on %s without API keys: anyone who can reach it may use it", settings.host)
    moe_options = {"config": config, "plugins_dir": args.plugins_dir}
    announce = functools.partial(print, flush=True)
    try:
        trio.run(functools.partial(serve_forever, moe_options, settings, keys=keys, announce=announce))
    except BaseExceptionGroup as group:  # the nurseries' wrapping of one error
        error = _single(group)
        if isinstance(error, OSError):
            raise ConfigError(f"cannot listen on {settings.bind}: {error.strerror or error}") from None
        raise error from None
    except OSError as exc:
        raise ConfigError(f"cannot listen on {settings.bind}: {exc.strerror or exc}") from None
    return 0


def _single(group: BaseExceptionGroup) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
