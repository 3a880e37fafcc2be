"""Encoders: the hashing encoder is a stable, machine-independent function of the text; the features
encoder checks sizes; bad options and wrong input kinds are clear errors."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from himoe_core import ConfigError, HiMoE, InputData
from himoe_core.routing import EncodeError, FeaturesEncoder, HashingEncoder
from himoe_core.testing import ConstantExpert

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Plan the release: write notes, then ship it!"
# sha256 of HashingEncoder(dim=64).vectorize(TEXT).tobytes(): changing the hashing (function, token
# format, scaling) silently invalidates every learned router weight, so it must be a deliberate act.
GOLDEN_SHA256 = "9e070897f6f5dc1bf41fefd9a0612f2a81eb27b05ea8b920471a375e64d199b1"


def reference_vector(tokens: list[str], dim: int) -> np.ndarray:
    """Signed feature hashing written out: index crc32 % dim, sign from bit 31, log-scaled, L2-normalised."""
    counts = np.zeros(dim)
    for token in tokens:
        h = zlib.crc32(token.encode("utf-8"))
        counts[h % dim] += 1.0 if (h >> 31) & 1 else -1.0
    vector = np.sign(counts) * np.log1p(np.abs(counts))
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _legacy_module():
    """The frozen copy of the per-token loop the fast encoder replaced (benchmarks/legacy_hashing.py)."""
    spec = importlib.util.spec_from_file_location("legacy_hashing", ROOT / "benchmarks" / "legacy_hashing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


legacy_vectorize = _legacy_module().legacy_vectorize

# Letters of several scripts (and cases that lower-case to two characters, like "İ"), digits,
# joiners, combining marks, emoji, punctuation and every kind of white space.
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    "éèçñüßẞÅİıΣσςΩ"
    "абвгдЖЩЯ"
    "αβγΔ"
    "日本語中文字"
    "한국어"
    "עברית"
    "العربية"
    "हिन्दी"
    "\u0301\u200d\u00ad"
    "😀👍🏽🇫🇷"
    ".,;:!?'\"()-+*/=%$€#@&"
    "  \t\n\r\u00a0\u2003\u3000"
)


def random_texts(seed: int, count: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = [
        "",
        " ",
        "a",
        "A",
        "...",
        "x x x x",
        "İstanbul ΣΊΣΥΦΟΣ straße STRASSE",
        "cancel cancel cancel",
        "word " * 300,
        "\u00a0 tab\tand\nnewline\r\n end",
    ]
    for _ in range(count):
        length = int(rng.integers(1, 400))
        texts.append("".join(ALPHABET[i] for i in rng.integers(0, len(ALPHABET), length)))
    return texts


OPTIONS = [
    {"dim": dim, "word_ngrams": words, "char_ngrams": chars, "lowercase": lowercase, "length": length}
    for dim in (3, 17, 256, 4096)
    for words in (None, (1, 1), (1, 2), (2, 4))
    for chars in (None, (1, 1), (2, 4))
    for lowercase in (True, False)
    for length in (False, True)
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_fast_hashing_gives_the_frozen_loop_s_vector_to_the_bit(options):
    encoder = HashingEncoder(**options)
    for text in random_texts(seed=options["dim"], count=20):
        expected = legacy_vectorize(text, **options)
        np.testing.assert_array_equal(encoder.vectorize(text), expected, err_msg=repr(text))
        encoded = encoder.encode(InputData.text(text))
        assert encoded.vector.tobytes() == expected.tobytes()
        assert encoded.indices.dtype == np.int64 and encoded.values.dtype == np.float32
        np.testing.assert_array_equal(encoded.indices, np.flatnonzero(expected))
        np.testing.assert_array_equal(encoded.values, expected[np.flatnonzero(expected)])


# -- the hashing encoder ------------------------------------------------------------------------------
def test_hashing_is_pinned_by_a_golden_checksum():
    vector = HashingEncoder(dim=64).vectorize(TEXT)
    assert vector.dtype == np.float32 and vector.shape == (64,)
    assert hashlib.sha256(vector.tobytes()).hexdigest() == GOLDEN_SHA256


def test_hashing_matches_signed_feature_hashing_of_word_unigrams_and_bigrams():
    words = ["plan", "the", "release", "write", "notes", "then", "ship", "it"]
    tokens = [f"w1:{w}" for w in words] + [f"w2:{a} {b}" for a, b in zip(words, words[1:])]
    np.testing.assert_allclose(HashingEncoder(dim=64).vectorize(TEXT), reference_vector(tokens, 64), rtol=1e-6)


def test_hashing_is_identical_in_another_process_with_another_hash_seed():
    code = (
        "import sys; from himoe_core.routing import HashingEncoder; "
        f"sys.stdout.write(HashingEncoder(dim=256, char_ngrams=(2, 4)).vectorize({TEXT!r}).tobytes().hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert other.returncode == 0, other.stderr
    here = HashingEncoder(dim=256, char_ngrams=(2, 4)).vectorize(TEXT)
    assert bytes.fromhex(other.stdout) == here.tobytes()
    assert os.environ.get("PYTHONHASHSEED") != "12345"  # the two processes salted str hashes differently


@pytest.mark.parametrize("dim", [2, 16, 1024])
def test_fixed_dim_unit_norm_and_signed(dim):
    encoder = HashingEncoder(dim=dim)
    texts = ["a", "route this request to the planner", "Les enfants jouent dans le jardin. " * 20, "x y z " * 300]
    for text in texts:
        encoded = encoder.encode(InputData.text(text))
        assert encoded.dim == dim and encoded.vector.dtype == np.float32
        assert np.linalg.norm(encoded.vector) == pytest.approx(1.0, abs=1e-6)
    long = HashingEncoder(dim=1024).vectorize(" ".join(f"word{i}" for i in range(200)))
    assert (long > 0).any() and (long < 0).any(), "feature hashing is signed: collisions cancel instead of piling up"


def test_empty_text_gives_the_zero_vector_not_nan():
    vector = HashingEncoder(dim=32).vectorize("  ...  ")
    assert np.array_equal(vector, np.zeros(32, dtype=np.float32))


def test_lowercase_is_an_option():
    assert np.array_equal(HashingEncoder(dim=64).vectorize("Ship IT"), HashingEncoder(dim=64).vectorize("ship it"))
    cased = HashingEncoder(dim=64, lowercase=False)
    assert not np.array_equal(cased.vectorize("Ship IT"), cased.vectorize("ship it"))


def test_word_order_matters_through_bigrams_only():
    unigrams = HashingEncoder(dim=512, word_ngrams=(1, 1))
    assert np.array_equal(unigrams.vectorize("dog bites man"), unigrams.vectorize("man bites dog"))
    bigrams = HashingEncoder(dim=512)
    assert not np.array_equal(bigrams.vectorize("dog bites man"), bigrams.vectorize("man bites dog"))


def test_char_ngrams_option():
    chars = HashingEncoder(dim=128, word_ngrams=None, char_ngrams=(3, 3))
    padded = " colour "
    tokens = [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
    np.testing.assert_allclose(chars.vectorize("colour"), reference_vector(tokens, 128), rtol=1e-6)
    # misspellings stay close with character n-grams, and share nothing with words alone
    words = HashingEncoder(dim=1024)
    both = HashingEncoder(dim=1024, char_ngrams=(2, 4))
    assert float(words.vectorize("colour") @ words.vectorize("color")) == pytest.approx(0.0, abs=1e-6)
    assert float(both.vectorize("colour") @ both.vectorize("color")) > 0.5


def test_length_option_puts_the_log_word_count_in_the_last_coordinate():
    plain, with_length = HashingEncoder(dim=32), HashingEncoder(dim=32, length=True)
    text = "Natalia sold clips to 48 of her friends in April"
    vector = with_length.vectorize(text)
    assert vector.shape == (32,) and (plain.dense, with_length.dense) == (0, 1)
    assert vector[-1] == pytest.approx(math.log1p(10))
    assert float(np.linalg.norm(vector[:-1])) == pytest.approx(1.0, abs=1e-6)  # the hashed part, as before
    assert HashingEncoder(dim=32, length=True).vectorize("")[-1] == 0.0
    assert with_length.encode(InputData.text(text)).dim == 32


def test_configure_returns_a_copy_and_accepts_lists_from_toml():
    base = HashingEncoder()
    configured = base.configure(dim=32, char_ngrams=[2, 3])
    assert (configured.dim, configured.char_ngrams) == (32, (2, 3))
    assert (base.dim, base.char_ngrams) == (256, None)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"dim": 1}, "dim"),
        ({"dim": 0}, "dim"),
        ({"dim": 2.5}, "dim"),
        ({"dim": True}, "dim"),
        ({"dim": (1 << 20) + 1}, "dim"),
        ({"word_ngrams": (3, 1)}, "word_ngrams"),
        ({"word_ngrams": (0, 2)}, "word_ngrams"),
        ({"char_ngrams": (2, 9)}, "char_ngrams"),
        ({"char_ngrams": "2-3"}, "char_ngrams"),
        ({"length": "yes"}, "length"),
        ({"length": True, "dim": 2}, "length"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(options, key):
    with pytest.raises(ConfigError, match=key):
        HashingEncoder(**options)
    with pytest.raises(ConfigError, match=key):
        HashingEncoder().configure(**options)


def test_unknown_option_lists_the_options():
    with pytest.raises(ConfigError, match="options are dim, word_ngrams, char_ngrams, lowercase, length"):
        HashingEncoder().configure(dims=32)


def test_config_errors_through_a_router_name_the_router_key():
    experts = [ConstantExpert("alpha")]
    config = {
        "routers": {"r": {"kind": "linear", "experts": ["alpha"], "encoder": {"id": "hashing", "dim": 1}}},
        "state": {"enabled": False},
    }
    with pytest.raises(ConfigError, match=r"routers\.r\.encoder: hashing encoder dim"):
        HiMoE(experts=experts, entry_points=False, environ={}, config=config)
    config["routers"]["r"]["encoder"] = {"id": "hashing", "word_ngrams": [2, 1]}
    with pytest.raises(ConfigError, match=r"routers\.r\.encoder: .*word_ngrams"):
        HiMoE(experts=experts, entry_points=False, environ={}, config=config)
    config["routers"]["r"]["encoder"] = {"id": "no-such-encoder"}
    with pytest.raises(
        ConfigError, match=r"routers\.r\.encoder: unknown encoder 'no-such-encoder'; installed: features, hashing"
    ):
        HiMoE(experts=experts, entry_points=False, environ={}, config=config)


def test_hashing_encoder_refuses_features_and_bytes_clearly():
    encoder = HashingEncoder()
    with pytest.raises(EncodeError, match="needs text, got a features input; use the 'features' encoder"):
        encoder.encode(InputData.features([1.0, 2.0]))
    with pytest.raises(EncodeError, match="needs text, got a bytes input"):
        encoder.encode(InputData.bytes(b"\x00\x01"))


# -- the features encoder -----------------------------------------------------------------------------
def test_features_pass_through_unchanged():
    values = np.array([0.5, -1.25, 3.0], dtype=np.float32)
    encoded = FeaturesEncoder(dim=3).encode(InputData.features(values))
    assert encoded.vector.dtype == np.float32
    assert np.array_equal(encoded.vector, values)
    assert FeaturesEncoder().encode(InputData.features(np.ones(7))).dim == 7


def test_features_encoder_checks_the_dimension():
    with pytest.raises(EncodeError, match="expected 4 features, got 3"):
        FeaturesEncoder(dim=4).encode(InputData.features([1.0, 2.0, 3.0]))


def test_features_encoder_refuses_text_clearly():
    with pytest.raises(EncodeError, match="needs a feature vector, got a text input; use the 'hashing' encoder"):
        FeaturesEncoder().encode(InputData.text("hello"))


@pytest.mark.parametrize("dim", [0, -3, 2.0, True])
def test_features_encoder_bad_dim_is_a_config_error(dim):
    with pytest.raises(ConfigError, match="features encoder dim"):
        FeaturesEncoder(dim=dim)
    with pytest.raises(ConfigError, match="its options are dim and context_dim"):
        FeaturesEncoder().configure(size=3)


def test_a_router_with_a_features_encoder_rejects_the_wrong_size():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    config = {
        "routers": {"r": {"kind": "linucb", "experts": ["alpha", "beta"], "encoder": {"id": "features", "dim": 4}}},
        "state": {"enabled": False},
    }
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        assert moe.run_sync(np.ones(4, dtype=np.float32)).value.as_text() == "ok"
        with pytest.raises(EncodeError, match="expected 4 features, got 3"):
            moe.run_sync(np.ones(3, dtype=np.float32))
        with pytest.raises(EncodeError, match="needs a feature vector, got a text input"):
            moe.run_sync("some text")


def test_a_learning_router_without_encoder_needs_one_for_text():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    config = {"routers": {"r": {"kind": "linear", "experts": ["alpha", "beta"]}}, "state": {"enabled": False}}
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        with pytest.raises(
            EncodeError,
            match=r"router 'r' \(linear\) needs an encoder for text input; "
            r"set routers\.r\.encoder = \"hashing\"",
        ):
            moe.run_sync("route me")
        assert math.isfinite(moe.run_sync(np.ones(5)).elapsed_ms)  # raw features need no encoder


# -- the sparse view ----------------------------------------------------------------------------------
def test_encoded_sparse_view_lists_the_non_zeros_in_order_read_only():
    encoded = FeaturesEncoder().encode(InputData.features([0.0, 2.5, 0.0, -1.0, 0.0]))
    assert encoded.indices.tolist() == [1, 3] and encoded.indices.dtype == np.int64
    assert encoded.values.tolist() == [2.5, -1.0] and encoded.values.dtype == np.float32
    assert encoded.indices is encoded.indices  # computed once
    for array in (encoded.vector, encoded.indices, encoded.values):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 7
    zero = FeaturesEncoder().encode(InputData.features([0.0, 0.0]))
    assert zero.indices.tolist() == [] and zero.values.tolist() == []


def test_hashing_encoded_is_read_only_and_its_view_includes_the_length():
    encoded = HashingEncoder(dim=64, length=True).encode(InputData.text(TEXT))
    assert encoded.indices[-1] == 63 and encoded.values[-1] == pytest.approx(math.log1p(8))
    for array in (encoded.vector, encoded.indices, encoded.values):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 7
    empty = HashingEncoder(dim=64, length=True).encode(InputData.text("..."))
    assert empty.indices.tolist() == [] and not empty.vector.any()
