"""Project generators for the `himoe` command: ``himoe new-plugin NAME`` writes a working expert
plugin distribution (pyproject with the ``himoe`` entry point, an expert, tests, README)."""

from .plugin_scaffold import create_plugin, default_directory, next_steps, plugin_names, render_plugin, validate_name

__all__ = ["create_plugin", "default_directory", "next_steps", "plugin_names", "render_plugin", "validate_name"]
