"""What the fuzz modules share: the example budget, hypothesis settings, hostile values, the
per-decoder tally printed by tests/fuzz/conftest.py, and the regression corpus.

``SIAGA_FUZZ_EXAMPLES`` sets the examples per test (small by default so ``make test`` stays fast;
``make fuzz`` sets 100000). Runs are derandomized and keep no example database, so CI sees the
same inputs every time; anything that ever failed is kept under ``tests/fuzz/corpus/<family>/``
and replayed by tests/fuzz/test_corpus.py."""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("SIAGA_FUZZ_EXAMPLES", "150"))
CORPUS = Path(__file__).parent / "corpus"


fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def share(part: float) -> settings:
    """Settings for a test that takes ``part`` of its decoder's budget of EXAMPLES inputs (a
    decoder's tests together feed it at least EXAMPLES inputs; the tally shows the count)."""
    return settings(fuzz, max_examples=max(20, round(EXAMPLES * part)))


# decoder name -> inputs fed to it in this session (tests/fuzz/conftest.py prints them)
TALLY: Counter[str] = Counter()


def fed(decoder: str, n: int = 1) -> None:
    TALLY[decoder] += n


# ---- hostile values ------------------------------------------------------------------------------

NASTY_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\u202e",
    "\U0001f6a8",
    "١٢٣",  # Arabic-Indic digits: str.isdigit() says yes, int() takes them
    "²",
    "ⅷ",
    "１２３",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "1e309",
    "-1e309",
    "1_000",
    "0x10",
    "9" * 5000,
    "-" + "9" * 400,
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2026-02-30T00:00:00Z",
    "2026-11-27T21:00:00",
    "2026-11-27T21:00:00Z",
    "1764270000",
    "1764270000000",
    "x" * 10_000,
    "<script>alert(1)</script>",
    "'; DROP TABLE incident; --",
    "%00",
    "%ED%A0%80",
    "\r\n",
    ",,,,",
    '"',
)

NASTY_NUMBERS = (
    0,
    -1,
    1,
    2**31,
    2**31 - 1,
    2**32,
    2**62,
    2**62 + 1,
    2**63,
    2**64,
    -(2**63),
    10**30,
    1e308,
    -1e308,
    5e-324,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    1764270000,
    1764270000000,
)

nasty_text = (
    st.sampled_from(NASTY_STRINGS)
    | st.text(max_size=40)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=12)
)
any_number = st.sampled_from(NASTY_NUMBERS) | st.integers() | st.floats()
numeric_text = (
    st.sampled_from(NASTY_STRINGS)
    | st.integers().map(str)
    | st.floats().map(repr)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.7f}")
    | st.decimals(allow_nan=True).map(str)
)
# DEEP marks where `deepen` puts a value nested far down: json.dumps and hypothesis's printer
# recurse, so the nesting is written as text after dumping
DEEP = "@deep@"
json_scalars = st.none() | st.booleans() | any_number | nasty_text | st.just(DEEP)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=20,
)


def deepen(raw: bytes, depth: int) -> bytes:
    """Every DEEP string of a dumped JSON text becomes a list nested ``depth`` deep."""
    return raw.replace(f'"{DEEP}"'.encode(), b"[" * depth + b"]" * depth) if depth else raw


def with_deep_member(raw: bytes, depth: int) -> bytes:
    """A JSON object's text with a member ``"extra"`` nested ``depth`` lists deep (orjson refuses
    beyond 1024). Written as text: json.dumps and hypothesis's printer recurse."""
    if not depth or not raw.startswith(b"{"):
        return raw
    rest = raw[1:].lstrip()
    return b'{"extra":' + b"[" * depth + b"]" * depth + (b"" if rest.startswith(b"}") else b",") + rest


# ---- the regression corpus -----------------------------------------------------------------------


def corpus(family: str) -> Iterator[tuple[str, bytes]]:
    """(file name, raw bytes) of tests/fuzz/corpus/<family>/, in name order."""
    folder = CORPUS / family
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if path.is_file() and not path.name.startswith("."):
            yield path.name, path.read_bytes()


def dumps(obj: object, ascii_only: bool = False) -> bytes:
    """JSON as a careless client writes it: NaN/Infinity literals, integers of any size, lone
    surrogates passed through (invalid UTF-8)."""
    return json.dumps(obj, ensure_ascii=ascii_only, default=str).encode("utf-8", "surrogatepass")


# ---- hostile inputs for the database-backed tests ------------------------------------------------


def hostile_json(rng: random.Random, good: dict[str, object], n: int) -> list[bytes]:
    """``n`` deterministic hostile variants of a good JSON object: random bytes, cut text, fields
    replaced by nasty values, deep nesting, oversize, NaN literals, invalid UTF-8."""
    base = json.dumps(good).encode()
    out: list[bytes] = []
    nasties: list[object] = [*NASTY_STRINGS[:30], *NASTY_NUMBERS[:18], None, True, [], {}, [1, [2]], {"a": {}}]
    for i in range(n):
        kind = i % 8
        if kind == 0:
            out.append(rng.randbytes(rng.randint(0, 300)))
        elif kind == 1:
            out.append(base[: rng.randint(0, len(base) - 1)])
        elif kind in (2, 3):
            obj = dict(good)
            for key in rng.sample(sorted(obj), k=rng.randint(1, len(obj))):
                obj[key] = rng.choice(nasties)
            out.append(dumps(obj, ascii_only=rng.random() < 0.5))
        elif kind == 4:
            depth = rng.choice([50, 1000, 1025, 3000])
            out.append(base[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}")
        elif kind == 5:
            out.append(base[:-1] + b', "pad": "' + b"x" * rng.choice([100, 9000, 70_000]) + b'"}')
        elif kind == 6:
            raw = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            out.append(bytes(raw))
        else:
            key = rng.choice(sorted(good))
            out.append(base.replace(f'"{key}"'.encode(), f'"{key}\\u0000"'.encode(), 1) + rng.choice([b"", b"\xff"]))
    return out
