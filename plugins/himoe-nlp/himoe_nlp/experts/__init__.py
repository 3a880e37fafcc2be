"""Experts of himoe-nlp, grouped by domain."""
