"""Where sympy runs: killable worker processes and the operations they compute."""
