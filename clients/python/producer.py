"""Example producer, as in the original broker.

/temp publishes temperatures, /msg counted messages, /weather publishes to
its three subtopics (/weather/temperature, /weather/humidity, /weather/wind).
"""

import argparse
import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))

from distloop_broker import JSONQueue, MiddlewareType, PickleQueue, XMLQueue  # noqa: E402

QUEUES = {"json": JSONQueue, "xml": XMLQueue, "pickle": PickleQueue}
WEATHER = {
    "/weather/temperature": lambda: round(random.uniform(-5, 35), 1),
    "/weather/humidity": lambda: random.randint(10, 100),
    "/weather/wind": lambda: random.randint(0, 120),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", choices=["/temp", "/msg", "/weather"], default="/temp")
    parser.add_argument("--queue_type", choices=QUEUES, default="json")
    parser.add_argument("--length", type=int, default=10, help="messages to publish")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between messages")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    make = QUEUES[args.queue_type]
    kw = dict(_type=MiddlewareType.PRODUCER, host=args.host, port=args.port)
    if args.topic == "/weather":
        queues = {topic: make(topic, **kw) for topic in WEATHER}
    else:
        queues = {args.topic: make(args.topic, **kw)}
    for i in range(args.length):
        for topic, queue in queues.items():
            if topic == "/temp":
                queue.push(round(random.uniform(-5, 35), 1))
            elif topic == "/msg":
                queue.push(f"message {i}")
            else:
                queue.push(WEATHER[topic]())
        if args.delay:
            time.sleep(args.delay)
    # A LIST round trip on each connection: the broker handled every push.
    for queue in queues.values():
        queue.list_topics(lambda topics: None)


if __name__ == "__main__":
    main()
