"""Experts over English text."""
