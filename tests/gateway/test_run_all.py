"""`siaga run --role all` as a real child process: web, dispatch and gateway wired together."""

from __future__ import annotations

import asyncio

import aiohttp

from siaga.procs import RoleProcess, role_env
from tests.gateway.harness import Stack
from tests.support import wait_for


async def test_run_all_serves_health_metrics_and_takes_alerts(stack: Stack) -> None:
    creds = await stack.add_devices(1)
    env = role_env(stack.settings)
    proc = RoleProcess(env, "all", stack.workdir / "all.log")
    await proc.start()
    base = f"http://127.0.0.1:{env['SIAGA_HTTP_PORT']}"
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"{base}/healthz") as r:
                        return r.status == 200 and (await r.json())["broker"] is True
                except aiohttp.ClientConnectionError:
                    return False

            await wait_for(healthy, timeout=60, interval=0.2, what="/healthz with the broker connected")
            (dev,) = await stack.start_devices(creds)
            seq = dev.press("fire")
            async with asyncio.timeout(15):
                await dev.wait_receipt(seq)
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
            assert r.status == 200
            assert "siaga_pipeline_alerts_committed_total 1" in text
            assert "siaga_gateway_receipts_sent_total 1" in text
            assert 'siaga_incidents{state="new"}' in text or "siaga_incidents{" in text
        code = await proc.terminate()
        assert code == 0, proc.log_tail()
    finally:
        await proc.kill()
