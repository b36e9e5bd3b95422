"""paho-mqtt against the real Rust broker's MQTT listener, over loopback:
publish/subscribe with wildcards, retained messages, QoS 1, the will on an
abrupt disconnect, and MQTT to the native JSON client and back.

Run: python3 -m unittest discover -s tests/python
The broker binary is $DISTLOOP_BIN, or target/debug/distloop.
"""

import os
import queue
import socket
import subprocess
import sys
import threading
import unittest

try:
    import paho.mqtt.client as mqtt
except ImportError:
    sys.exit(
        "tests/python/test_mqtt.py needs paho-mqtt for " + sys.executable
        + " (pip install paho-mqtt, or Debian package python3-paho-mqtt);"
        " scripts/test installs every tool the tests need"
    )

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

from distloop_broker import JSONQueue, MiddlewareType  # noqa: E402

BIN = os.environ.get("DISTLOOP_BIN", os.path.join(ROOT, "target", "debug", "distloop"))
TIMEOUT = 10


def address(line):
    host, port = line.rsplit("listening on ", 1)[1].strip().rsplit(":", 1)
    return host, int(port)


class Broker:
    """The broker with its MQTT listener; the second line is the MQTT port."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [BIN, "broker", "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.native = address(self.proc.stdout.readline())
        self.mqtt = address(self.proc.stdout.readline())

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def new_client(client_id):
    """A paho client of either API generation (2.x wants the callback version)."""
    try:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    except AttributeError:
        return mqtt.Client(client_id=client_id)


class MqttTest(unittest.TestCase):
    def setUp(self):
        self.broker = Broker()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.loop_stop()
            c.disconnect()
        self.broker.stop()

    def client(self, client_id, will=None, keepalive=60):
        c = new_client(client_id)
        c.messages = queue.Queue()
        connected = threading.Event()
        c.on_connect = lambda *args: connected.set()
        c.on_message = lambda _c, _u, msg: c.messages.put((msg.topic, msg.payload, msg.qos, msg.retain))
        if will:
            c.will_set(*will)
        host, port = self.broker.mqtt
        c.connect(host, port, keepalive=keepalive)
        c.loop_start()
        self.assertTrue(connected.wait(TIMEOUT), "no CONNACK")
        self.clients.append(c)
        return c

    def subscribe(self, c, *filters):
        done = threading.Event()
        c.on_subscribe = lambda *args: done.set()
        c.subscribe([(f, q) for f, q in filters])
        self.assertTrue(done.wait(TIMEOUT), "no SUBACK")

    def next(self, c):
        return c.messages.get(timeout=TIMEOUT)

    def test_wildcard_subscriptions_get_only_matching_topics(self):
        sub = self.client("sub")
        self.subscribe(sub, ("home/+/temp", 0), ("garden/#", 0))
        pub = self.client("pub")
        for topic, payload in [("home/kitchen/temp", b"21"), ("home/kitchen/light", b"on"), ("garden", b"wet"), ("garden/pond/level", b"3")]:
            pub.publish(topic, payload).wait_for_publish(TIMEOUT)
        got = [self.next(sub)[:2] for _ in range(3)]
        self.assertEqual(got, [("home/kitchen/temp", b"21"), ("garden", b"wet"), ("garden/pond/level", b"3")])

    def test_qos_one_round_trip_and_qos_two_granted_as_one(self):
        sub = self.client("sub")
        granted = queue.Queue()
        sub.on_subscribe = lambda _c, _u, _mid, codes, *rest: granted.put([int(getattr(x, "value", x)) for x in codes])
        sub.subscribe("q", qos=2)
        self.assertEqual(granted.get(timeout=TIMEOUT), [1])
        pub = self.client("pub")
        info = pub.publish("q", b"once", qos=1)
        info.wait_for_publish(TIMEOUT)
        self.assertTrue(info.is_published())
        self.assertEqual(self.next(sub), ("q", b"once", 1, False))

    def test_a_late_subscriber_gets_the_retained_message_flagged(self):
        pub = self.client("pub")
        pub.publish("status/door", b"closed", qos=1).wait_for_publish(TIMEOUT)
        pub.publish("status/door", b"open", qos=1).wait_for_publish(TIMEOUT)
        sub = self.client("late")
        self.subscribe(sub, ("status/#", 1))
        self.assertEqual(self.next(sub), ("status/door", b"open", 1, True))

    def test_the_will_is_published_on_an_abrupt_disconnect(self):
        watcher = self.client("watcher")
        self.subscribe(watcher, ("devices/+/state", 0))
        dying = self.client("dying", will=("devices/7/state", b"lost", 1, False))
        # Cut the socket under paho: no DISCONNECT is sent.
        dying.socket().shutdown(socket.SHUT_RDWR)
        self.assertEqual(self.next(watcher)[:2], ("devices/7/state", b"lost"))

    def test_mqtt_reaches_the_native_json_client_and_back(self):
        host, port = self.broker.native
        native = JSONQueue("/lab", _type=MiddlewareType.CONSUMER, host=host, port=port)
        native.settimeout(TIMEOUT)
        native.list_topics(lambda topics: None)  # the subscription is in place after this
        mqtt_sub = self.client("mqtt-sub")
        self.subscribe(mqtt_sub, ("lab/#", 0))
        pub = self.client("pub")
        pub.publish("lab/reading", b'{"volts": 3.3, "ok": true}').wait_for_publish(TIMEOUT)
        self.assertEqual(native.pull(), ("/lab/reading", {"volts": 3.3, "ok": True}))
        self.assertEqual(self.next(mqtt_sub)[:2], ("lab/reading", b'{"volts": 3.3, "ok": true}'))
        producer = JSONQueue("/lab/note", _type=MiddlewareType.PRODUCER, host=host, port=port)
        producer.push("calibrated")
        producer.push([1, 2])
        self.assertEqual(self.next(mqtt_sub)[:2], ("lab/note", b"calibrated"))
        # JSON text reaches MQTT as it was published.
        self.assertEqual(self.next(mqtt_sub)[:2], ("lab/note", b"[1, 2]"))
        producer.close()
        native.close()


if __name__ == "__main__":
    unittest.main()
