"""himoe's built-in routers, aggregators, orchestrators and encoders, registered through the same
hooks as any third-party plugin (disable them with ``HIMOE_DISABLE_PLUGINS=himoe``)."""
