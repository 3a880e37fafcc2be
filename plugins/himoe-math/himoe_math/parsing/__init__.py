"""The restricted math language: tokenizer, parser and request parsing (no sympy, no eval)."""
