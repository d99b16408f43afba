"""The raw ceiling's consumer: a plain paho subscriber (QoS 1, acks on receipt) in its own
process, as the gateway is. Prints its running count every 100 ms; ``python -m siaga.bench_raw``."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from core.mqtt import AsyncMqtt, new_client
from core.settings import MqttTarget


async def main(url: str, topic: str, client_id: str) -> None:
    target = MqttTarget.parse(url)
    client = new_client(client_id, username=target.username, password=target.password)
    count = 0

    def on_message(c: Any, u: Any, msg: Any) -> None:
        nonlocal count
        count += 1

    client.on_message = on_message
    subscribed = asyncio.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    conn = AsyncMqtt(
        client, target.host, target.port, name="raw-subscriber", on_connected=lambda: client.subscribe(topic, qos=1)
    )
    async with asyncio.TaskGroup() as tg:
        tg.create_task(conn.run())
        await subscribed.wait()
        print("ready", flush=True)
        while True:
            await asyncio.sleep(0.1)
            print(count, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
