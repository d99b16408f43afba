"""The README's first command: `siaga demo` needs no services and takes alerts end to end."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from pathlib import Path

import aiohttp
import asyncpg

from tests.support import free_port, run_siaga, wait_for


async def test_demo_starts_everything_embedded_and_receipts_presses(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    env |= {"SIAGA_DATA_DIR": str(tmp_path / "var"), "SIAGA_HTTP_PORT": str(port)}
    # tracker ports of its own too: another test may run a demo at the same time (pytest-xdist)
    env |= {"SIAGA_GT06_PORT": str(free_port()), "SIAGA_OSMAND_PORT": str(free_port())}
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

            async def token_of(username: str) -> str:
                async with http.post(
                    f"http://127.0.0.1:{port}/api/v1/login",
                    json={"username": username, "password": logins[username]},
                ) as r:
                    assert r.status == 200, await r.text()
                    return str((await r.json())["token"])

            async def incident_ids(username: str) -> set[str]:
                async with http.get(
                    f"http://127.0.0.1:{port}/api/v1/incidents?limit=1000",
                    headers={"Authorization": f"Bearer {await token_of(username)}"},
                ) as r:
                    assert r.status == 200, await r.text()
                    return {i["id"] for i in (await r.json())["incidents"]}

            # the banner's env lines point the CLI at the embedded database and broker
            exported = {name: shlex.split(value)[0] for name, value in re.findall(r"export (SIAGA_\w+)=(.+)", text)}
            assert {"SIAGA_DATABASE_URL", "SIAGA_MQTT_URL"} <= set(exported), text
            code, out = await run_siaga("devices", "list", env=env | exported)
            assert code == 0, out
            assert all(f"demo-btn-{n:03d}" in out for n in range(1, 6)), out

            db = await asyncpg.connect(exported["SIAGA_DATABASE_URL"])
            try:
                users = {
                    r["username"]: (r["role"], r["kind"], r["code"])
                    for r in await db.fetch(
                        """SELECT u.username, u.role, g.kind, g.code FROM app_user u
                             LEFT JOIN agency g ON g.id = u.agency_id"""
                    )
                }
                assert users["pusat"][:2] == ("command_centre", "command_centre")

                # every Polsek a demo button's alert was routed to has an operator login whose list shows it
                async def routed_to_polsek() -> list[asyncpg.Record]:
                    return await db.fetch(
                        """SELECT x.incident_id AS id, g.code FROM incident_assignment x
                             JOIN agency g ON g.id = x.agency_id WHERE g.kind = 'polsek'"""
                    )

                routed = await wait_for(routed_to_polsek, timeout=60, interval=0.5, what="a press placed in a Polsek")
                for row in routed:
                    login = next(u for u, (role, _, c) in users.items() if role == "operator" and c == row["code"])
                    assert login in logins and login in text
                    assert str(row["id"]) in await incident_ids(login)
            finally:
                await db.close()
    finally:
        proc.terminate()
        try:
            async with asyncio.timeout(30):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
