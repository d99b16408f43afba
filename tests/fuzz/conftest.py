"""Prints, after a run that fuzzed anything, how many inputs each decoder was fed and how long
each fuzz test took (``make fuzz`` shows the 100,000-per-decoder bar is met)."""

from __future__ import annotations

import pytest

from tests.fuzz.support import EXAMPLES, TALLY

_DURATIONS: dict[str, tuple[float, str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # the hypothesis tests, not each replayed corpus file
    fuzzed = "fuzz" in report.keywords and "[" not in report.nodeid
    if report.when == "call" and "tests/fuzz/" in report.nodeid and fuzzed:
        _DURATIONS[report.nodeid.split("tests/fuzz/", 1)[-1]] = (report.duration, report.outcome)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"fuzz: inputs per decoder (SIAGA_FUZZ_EXAMPLES={EXAMPLES})")
    for decoder, n in sorted(TALLY.items()):
        write(f"  {decoder:<40} {n:>10,} inputs")
    write("  per test:")
    for name, (seconds, outcome) in sorted(_DURATIONS.items()):
        write(f"  {name:<62} {seconds:>8.1f} s  {outcome}")
