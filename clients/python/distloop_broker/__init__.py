"""Python client of the distloop broker (standard library only).

Same API as the original classroom broker::

    from distloop_broker import JSONQueue, MiddlewareType
    q = JSONQueue("/temp", _type=MiddlewareType.PRODUCER)
    q.push(21.5)
    c = JSONQueue("/temp", _type=MiddlewareType.CONSUMER)
    topic, value = c.pull()
"""

from .middleware import (
    BrokerError,
    JSONQueue,
    MiddlewareType,
    PickleQueue,
    Queue,
    XMLQueue,
)

__all__ = [
    "BrokerError",
    "JSONQueue",
    "MiddlewareType",
    "PickleQueue",
    "Queue",
    "XMLQueue",
]
