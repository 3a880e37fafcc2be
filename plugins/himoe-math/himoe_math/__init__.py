"""himoe-math: exact symbolic math experts for himoe.

Importing this package is cheap: sympy is only imported inside the worker processes that
compute, never by the entry point or the expert modules.
"""
