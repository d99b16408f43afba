"""The README's first command: `siaga demo` needs no services and takes alerts end to end."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import aiohttp

from tests.support import free_port, wait_for


async def test_demo_starts_everything_embedded_and_receipts_presses(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    env |= {"SIAGA_DATA_DIR": str(tmp_path / "var"), "SIAGA_HTTP_PORT": str(port)}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "siaga.cli",
            "demo",
            "--devices",
            "5",
            "--press-rate",
            "3",
            env=env,
            stdout=out,
            stderr=out,
        )
    try:

        async def receipts() -> int:
            found = re.findall(r"tanda terima (\d+)", log.read_text(errors="replace"))
            return int(found[-1]) if found else 0

        async def at_least_three() -> bool:
            return await receipts() >= 3

        await wait_for(at_least_three, timeout=120, interval=0.5, what="three receipted presses")
        text = log.read_text()
        assert f"Buka konsol: http://127.0.0.1:{port}/console" in text
        logins = json.loads((tmp_path / "var" / "demo-logins.json").read_text())
        assert {"admin", "polres", "dishub", "bupati"} <= set(logins)
        assert logins["polres"] in text  # the banner shows each demo login
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200 and (await r.json())["broker"] is True
            async with http.post(
                f"http://127.0.0.1:{port}/api/v1/login", json={"username": "polres", "password": logins["polres"]}
            ) as r:
                assert r.status == 200
                token = (await r.json())["token"]
            # the demo's Polres works three shifts, and its operator is on today's
            async with http.get(
                f"http://127.0.0.1:{port}/api/v1/roster/polres-wonosobo/shifts",
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                assert r.status == 200, await r.text()
                assert sorted(s["code"] for s in await r.json()) == ["M", "P", "S"]
    finally:
        proc.terminate()
        try:
            async with asyncio.timeout(30):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
