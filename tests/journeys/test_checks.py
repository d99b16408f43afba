"""The journeys' eye for untranslated words: what it flags and what it lets through."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from tests.journeys.checks import INTERNAL_CODES, untranslated


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Status: Alarm palsu", []),
        ("Status: false_alarm", ["code 'false_alarm'"]),
        ("Kejadian incident.unattended pukul 10.00", ["code 'incident.unattended'", "English 'incident'"]),
        ("Peran: command_centre", ["code 'command_centre'"]),
        ("Perbesar Perkecil", []),
        ("Zoom in", ["English 'Zoom in'"]),
        ("zoom\nout", ["English 'zoom\\nout'"]),
        ("Nilai: undefined", ["English 'undefined'"]),
        ("NaN menit", ["English 'NaN'"]),
        ("Submit", ["English 'Submit'"]),
        # a whole word only: Indonesian words that hold an English one are fine
        ("Menonedit Pengeditan", []),
        ("Terjadi kesalahan", []),
        ('{"error": "x"}', ["English 'error'", 'raw JSON \'{"error": "x"}\'']),
        ("03-12-2026 14:05 WIB", []),
        ("Tombol demo-btn-001 di WSB-AB12-CD34", []),
    ],
)
def test_untranslated(text: str, found: list[str]) -> None:
    assert untranslated(text) == found


def test_codes_with_a_separator_are_the_ones_looked_for() -> None:
    assert {"false_alarm", "incident.unattended", "command_centre", "on_scene"} <= INTERNAL_CODES
    assert "panic" not in INTERNAL_CODES  # a plain word: the English list catches English words
