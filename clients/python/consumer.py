"""Example consumer, as in the original broker: prints what it receives."""

import argparse
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))

from distloop_broker import JSONQueue, MiddlewareType, PickleQueue, XMLQueue  # noqa: E402

QUEUES = {"json": JSONQueue, "xml": XMLQueue, "pickle": PickleQueue}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", default="/temp", help="/temp, /msg, /weather or any topic")
    parser.add_argument("--queue_type", choices=QUEUES, default="json")
    parser.add_argument("--length", type=int, default=0, help="stop after N messages (0: never)")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    queue = QUEUES[args.queue_type](args.topic, _type=MiddlewareType.CONSUMER, host=args.host, port=args.port)
    received = 0
    while args.length == 0 or received < args.length:
        topic, value = queue.pull()
        print(topic, value, flush=True)
        received += 1


if __name__ == "__main__":
    main()
