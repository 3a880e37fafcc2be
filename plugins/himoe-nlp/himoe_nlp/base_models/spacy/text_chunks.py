"""Splitting long texts into chunks at natural boundaries, so a tagger can stop between them."""

from __future__ import annotations

# Boundaries, best first: a blank line, a line break, a sentence end, any whitespace.
_BOUNDARIES = ("\n\n", "\n", ". ", "! ", "? ", " ", "\t")


def chunk_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) spans that cover `text` in order, each at most `max_chars` long.

    A text that fits is one span. Otherwise each span ends at the last good boundary within
    `max_chars` (blank line, then line break, then sentence end, then whitespace); only a run
    of `max_chars` characters with no whitespace at all is cut blindly.
    """
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    spans: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while length - start > max_chars:
        window_end = start + max_chars
        end = window_end
        for boundary in _BOUNDARIES:
            cut = text.rfind(boundary, start + 1, window_end)
            if cut > start:
                end = cut + len(boundary)
                break
        spans.append((start, end))
        start = end
    if start < length or not spans:
        spans.append((start, length))
    return spans
