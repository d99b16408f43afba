"""The fault matrix's table: every fault test adds one row; the session prints them at the end
and writes them to var/faults.json."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

_ROWS: list[FaultRow] = []


@dataclass
class FaultRow:
    fault: str
    sent: int  # alerts pressed (distinct device, seq)
    incidents: int
    lost: int  # alerts without an incident, outboxes not emptied, actions or timers missing
    duplicates: int  # extra incidents, audit or history rows, escalations
    recover_s: float  # from the end of the fault until every alert is receipted and every action done
    actions: int = 0  # operator acknowledgements + complaint dispositions through the APIs
    refused_retries: int = 0  # retried actions the API refused cleanly (409), each in the db once
    telemetry_sent: int = 0
    telemetry_stored: int = 0
    escalations: int = 0
    crashes: str = ""  # roles that died under the fault (restarted by the test, as a supervisor would)
    note: str = ""


class FaultTable:
    def add(self, row: FaultRow) -> None:
        _ROWS.append(row)


@pytest.fixture(scope="session")
def fault_table() -> FaultTable:
    return FaultTable()


def render(rows: list[FaultRow]) -> str:
    head = (
        "fault", "sent", "incidents", "lost", "dup", "recover s", "actions", "409s", "telemetry", "escal.", "crashed"
    )
    lines = [
        (
            r.fault,
            str(r.sent),
            str(r.incidents),
            str(r.lost),
            str(r.duplicates),
            f"{r.recover_s:.1f}" if r.recover_s != float("inf") else "never",
            str(r.actions),
            str(r.refused_retries),
            f"{r.telemetry_stored}/{r.telemetry_sent}",
            str(r.escalations),
            r.crashes or "-",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    notes = [f"  {r.fault}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["notes:", *notes] if notes else []))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _ROWS:
        return
    terminalreporter.section("fault matrix")
    terminalreporter.write_line(render(_ROWS))
    out = Path(config.rootpath) / "var" / "faults.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                # recover_s null: never recovered within the row's limit
                "rows": [
                    {**asdict(r), "recover_s": r.recover_s if r.recover_s != float("inf") else None} for r in _ROWS
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    terminalreporter.write_line(f"written to {out}")
