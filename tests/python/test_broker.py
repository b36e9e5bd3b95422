"""The Python client against the real Rust broker, over loopback.

Run: python3 -m unittest discover -s tests/python
The broker binary is $DISTLOOP_BIN, or target/debug/distloop.
"""

import os
import pickle
import socket
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_DIR = os.path.join(ROOT, "clients", "python")
sys.path.insert(0, CLIENT_DIR)

from distloop_broker import (  # noqa: E402
    BrokerError,
    JSONQueue,
    MiddlewareType,
    PickleQueue,
    XMLQueue,
)

BIN = os.environ.get("DISTLOOP_BIN", os.path.join(ROOT, "target", "debug", "distloop"))
TIMEOUT = 10


class Broker:
    def __init__(self):
        self.proc = subprocess.Popen(
            [BIN, "broker", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        host, port = line.rsplit("listening on ", 1)[1].strip().rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class BrokerTest(unittest.TestCase):
    def setUp(self):
        self.broker = Broker()
        self.queues = []

    def tearDown(self):
        for q in self.queues:
            q.close()
        self.broker.stop()

    def queue(self, cls, topic, _type):
        q = cls(topic, _type=_type, host=self.broker.host, port=self.broker.port)
        q.settimeout(TIMEOUT)
        self.queues.append(q)
        return q

    def consumer(self, cls, topic):
        q = self.queue(cls, topic, MiddlewareType.CONSUMER)
        q.list_topics(lambda topics: None)  # the subscription is in place after this
        return q

    def producer(self, cls, topic):
        return self.queue(cls, topic, MiddlewareType.PRODUCER)

    def assert_nothing_arrives(self, q):
        q.settimeout(0.2)
        with self.assertRaises(socket.timeout):
            q.pull()
        q.settimeout(TIMEOUT)

    def test_subscriber_of_parent_receives_subtopics_only_downwards(self):
        parent = self.consumer(JSONQueue, "/a")
        child = self.consumer(JSONQueue, "/a/b")
        for topic, n in [("/a", 1), ("/a/c", 2), ("/a/b", 3), ("/a/b/c", 4)]:
            self.producer(JSONQueue, topic).push(n)
        self.assertEqual([parent.pull() for _ in range(4)], [("/a", 1), ("/a/c", 2), ("/a/b", 3), ("/a/b/c", 4)])
        self.assertEqual(child.pull(), ("/a/b", 3))
        self.assertEqual(child.pull(), ("/a/b/c", 4))
        self.assert_nothing_arrives(child)

    def test_new_subscriber_first_receives_the_last_message(self):
        p = self.producer(PickleQueue, "/msg")
        p.push("first")
        p.push({"last": [1, 2.5, None, True]})
        p.list_topics(lambda t: None)
        c = self.consumer(PickleQueue, "/msg")
        self.assertEqual(c.pull(), ("/msg", {"last": [1, 2.5, None, True]}))

    def test_list_topics_returns_published_topics_only(self):
        self.consumer(XMLQueue, "/only/subscribed")
        p = self.producer(XMLQueue, "/weather/wind")
        p.push(3)
        got = []
        p.list_topics(got.extend)
        self.assertEqual(got, ["/weather/wind"])

    def test_cancel_stops_delivery(self):
        c = self.consumer(JSONQueue, "/temp")
        c.cancel()
        c.list_topics(lambda t: None)
        self.producer(JSONQueue, "/temp").push(1)
        self.assert_nothing_arrives(c)

    def test_a_pickle_integer_reaches_json_as_integer_and_xml_as_text(self):
        js = self.consumer(JSONQueue, "/temp")
        xm = self.consumer(XMLQueue, "/temp")
        self.producer(PickleQueue, "/temp").push(42)
        self.assertEqual(js.pull(), ("/temp", 42))
        self.assertEqual(xm.pull(), ("/temp", "42"))

    def test_xml_producer_reaches_json_and_pickle_consumers_typed(self):
        js = self.consumer(JSONQueue, "/x")
        pk = self.consumer(PickleQueue, "/x")
        value = {"t": 21.5, "tags": ["a<b", "&"], "ok": False, "n": None}
        self.producer(XMLQueue, "/x").push(value)
        self.assertEqual(js.pull(), ("/x", value))
        self.assertEqual(pk.pull(), ("/x", value))

    def test_malicious_pickle_is_refused_and_reaches_nobody(self):
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        c = self.consumer(PickleQueue, "/t")
        evil = self.producer(PickleQueue, "/t")
        evil.push(Evil())
        with self.assertRaises(BrokerError) as caught:
            evil.list_topics(lambda t: None)
        self.assertEqual(caught.exception.code, 6)
        self.assertIn("GLOBAL", caught.exception.message)
        self.assert_nothing_arrives(c)
        self.assertEqual(pickle.loads(pickle.dumps(1)), 1)

    def test_example_programs_publish_and_consume(self):
        env = dict(os.environ)
        common = ["--host", self.broker.host, "--port", str(self.broker.port)]
        consumer = subprocess.Popen(
            [sys.executable, os.path.join(CLIENT_DIR, "consumer.py"), "--topic", "/weather",
             "--queue_type", "xml", "--length", "3"] + common,
            stdout=subprocess.PIPE, text=True, env=env,
        )
        watcher = self.consumer(JSONQueue, "/weather")
        # The consumer subscribed once a topic it would see has a subscriber; poll
        # the example producer until the consumer has its three messages.
        subprocess.run(
            [sys.executable, os.path.join(CLIENT_DIR, "producer.py"), "--topic", "/weather",
             "--queue_type", "pickle", "--length", "1"] + common,
            check=True, timeout=TIMEOUT,
        )
        topics = sorted(watcher.pull()[0] for _ in range(3))
        self.assertEqual(topics, ["/weather/humidity", "/weather/temperature", "/weather/wind"])
        try:
            out, _ = consumer.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            # It subscribed after the publishes; the retained messages are per
            # subtopic, so publish once more.
            subprocess.run(
                [sys.executable, os.path.join(CLIENT_DIR, "producer.py"), "--topic", "/weather",
                 "--queue_type", "json", "--length", "1"] + common,
                check=True, timeout=TIMEOUT,
            )
            out, _ = consumer.communicate(timeout=TIMEOUT)
        lines = out.splitlines()
        self.assertEqual(len(lines), 3)
        self.assertTrue(all(line.startswith("/weather/") for line in lines), lines)


if __name__ == "__main__":
    unittest.main()
