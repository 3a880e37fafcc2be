"""RetryPolicy, Retry-After parsing, templates and reply paths, on their own."""

from __future__ import annotations

import email.utils
import random

import pytest
from himoe_http import RetryPolicy
from himoe_http.base_models.http.redaction import one_line, redact, redact_json, snippet
from himoe_http.base_models.http.retry_after import parse_retry_after
from himoe_http.task_prefixes import matching_prefix, strip_prefix
from himoe_http.templates import extract_path, render_template


def test_http_retry_policy_retries_429_and_5xx_only():
    retryable = [s for s in range(100, 600) if RetryPolicy.is_retryable_status(s)]
    assert retryable == [429, *range(500, 600)]


def test_http_retry_policy_full_jitter_bounds():
    policy = RetryPolicy(max_retries=5, base_ms=50, max_ms=300)
    rng = random.Random(7)
    for retry, ceiling in [(1, 0.05), (2, 0.1), (3, 0.2), (4, 0.3), (5, 0.3)]:
        waits = [policy.backoff_s(retry, rng) for _ in range(2000)]
        assert all(0.0 <= w <= ceiling for w in waits)
        # Full jitter spreads over the whole range, not around the ceiling.
        assert min(waits) < ceiling * 0.05 and max(waits) > ceiling * 0.95
    assert policy.max_attempts == 6
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="base_ms"):
        RetryPolicy(base_ms=0)


@pytest.mark.parametrize(
    "header, seconds",
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("0", 0.0),
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0.25", 0.25),
        ("-3", 0.0),
    ],
)
def test_http_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_http_retry_after_http_date():
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("Mon, 99 Foo 2015 07:28:00 GMT", now=now) is None


def test_http_redaction_helpers():
    assert redact("key=abc123 and abc123", "abc123") == "key=*** and ***"
    assert redact("nothing", None) == "nothing" and redact("x", "") == "x"
    assert redact_json({"abc123": ["abc123!", 1, None, {"k": "abc123"}]}, "abc123") == {
        "***": ["***!", 1, None, {"k": "***"}]
    }
    assert one_line("a\n  b\tc") == "a b c"
    assert len(one_line("x" * 500, 100)) == 100
    assert snippet(b"\xff\xfeoops abc123\n", "abc123") == "\ufffd\ufffdoops ***"


def test_http_templates_render_and_extract():
    template = {"a": "{text}", "b": ["{task}:{text}", 1, True, None], "c": {"d": "{other} stays"}}
    rendered = render_template(template, {"text": "hi {task}", "task": "t"})
    assert rendered == {"a": "hi {task}", "b": ["t:hi {task}", 1, True, None], "c": {"d": "{other} stays"}}
    assert template["a"] == "{text}"  # a copy: the template is not changed
    data = {"a": [{"b": "x"}, {"b": "y"}], "n": None}
    assert extract_path(data, ("a", "1", "b")) == "y"
    assert extract_path(data, ("n",)) is None
    with pytest.raises(ValueError, match="a is a list of 2 items, which has no item 'x'"):
        extract_path(data, ("a", "x"))
    with pytest.raises(ValueError, match="n is a null, not an object or list"):
        extract_path(data, ("n", "m"))


def test_http_task_prefixes():
    prefixes = ("chat:", "ask:")
    assert matching_prefix("  Chat: hi", prefixes) == "chat:"
    assert matching_prefix("chatter", prefixes) is None
    assert strip_prefix("  ASK:  why?  ", prefixes) == "why?"
    assert strip_prefix("no prefix here", prefixes) == "no prefix here"
