"""core.mqtt.new_client: the skipped per-topic callback walk must not change what is delivered."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from core.mqtt import new_client


def test_on_message_and_per_topic_callbacks_through_the_real_broker(topic_root: str) -> None:
    plain: list[str] = []
    filtered: list[str] = []
    done = threading.Event()
    sub = new_client(f"{topic_root}-sub".replace("/", "-"))

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        plain.append(msg.topic)

    def on_filtered(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        filtered.append(msg.topic)
        done.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", 1883)
    sub.subscribe(f"{topic_root}/#", qos=1)
    sub.loop_start()
    try:
        pub = new_client(f"{topic_root}-pub".replace("/", "-"))
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        pub.publish(f"{topic_root}/a", b"1", qos=1).wait_for_publish(5)
        # with no per-topic callback every message goes to on_message
        for _ in range(100):
            if plain:
                break
            threading.Event().wait(0.05)
        assert plain == [f"{topic_root}/a"]
        # a per-topic callback added later takes its topics, as paho documents
        sub.message_callback_add(f"{topic_root}/b/#", on_filtered)
        pub.publish(f"{topic_root}/b/c", b"2", qos=1).wait_for_publish(5)
        assert done.wait(5)
        assert filtered == [f"{topic_root}/b/c"] and plain == [f"{topic_root}/a"]
        pub.loop_stop()
        pub.disconnect()
    finally:
        sub.loop_stop()
        sub.disconnect()
