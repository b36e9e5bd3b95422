"""Queues over the distloop broker wire protocol (docs/broker-protocol.md).

Each queue owns one TCP connection. A CONSUMER subscribes to its topic when
it is built; a PRODUCER publishes to it with push(). Every frame goes out
with one sendall().
"""

import enum
import io
import json
import pickle
import socket
import struct
import xml.etree.ElementTree as ET

SUBSCRIBE, PUBLISH, LIST, LIST_REPLY, CANCEL, DELIVER, ERROR = range(1, 8)
JSON_ID, XML_ID, PICKLE_ID = 0, 1, 2
MAX_FRAME_BYTES = 1 << 20


class MiddlewareType(enum.Enum):
    """What a queue does: receive (CONSUMER) or send (PRODUCER)."""

    CONSUMER = 1
    PRODUCER = 2


class BrokerError(Exception):
    """The broker sent an error frame (and closed the connection)."""

    def __init__(self, code, message):
        super().__init__(f"broker error {code}: {message}")
        self.code = code
        self.message = message


class Queue:
    """A connection bound to one topic; subclasses choose the serialization."""

    serializer_id = None

    def __init__(self, topic, _type=MiddlewareType.CONSUMER, host="localhost", port=5000):
        self.topic = topic
        self.type = _type
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._inbound = bytearray()
        self._pending = []
        if _type == MiddlewareType.CONSUMER:
            self._send(SUBSCRIBE, topic.encode())

    # -- serialization, per subclass --------------------------------------
    def encode(self, value):
        raise NotImplementedError

    def decode(self, payload):
        raise NotImplementedError

    # -- public API --------------------------------------------------------
    def push(self, value):
        """Publishes value to this queue's topic."""
        topic = self.topic.encode()
        body = struct.pack(">H", len(topic)) + topic + self.encode(value)
        self._send(PUBLISH, body)

    def pull(self):
        """Waits for the next message; returns (topic, value)."""
        if self._pending:
            return self._pending.pop(0)
        while True:
            kind, _, body = self._read_frame()
            if kind == DELIVER:
                return self._delivery(body)

    def list_topics(self, callback):
        """Calls callback(list of topics that have had a publish)."""
        self._send(LIST, b"")
        while True:
            kind, _, body = self._read_frame()
            if kind == LIST_REPLY:
                callback(list(self.decode_topics(body)))
                return
            if kind == DELIVER:
                self._pending.append(self._delivery(body))

    def cancel(self):
        """Stops deliveries of this queue's topic."""
        self._send(CANCEL, self.topic.encode())

    def close(self):
        """Closes the connection."""
        self._sock.close()

    def settimeout(self, seconds):
        """Bounds how long pull() and list_topics() wait (socket.timeout after)."""
        self._sock.settimeout(seconds)

    # -- wire --------------------------------------------------------------
    def decode_topics(self, payload):
        return self.decode(payload)

    def _delivery(self, body):
        (length,) = struct.unpack_from(">H", body)
        topic = bytes(body[2 : 2 + length]).decode()
        return topic, self.decode(bytes(body[2 + length :]))

    def _send(self, kind, body):
        header = struct.pack(">IBB", len(body) + 2, kind, self.serializer_id)
        self._sock.sendall(header + body)

    def _read_frame(self):
        while True:
            if len(self._inbound) >= 4:
                (length,) = struct.unpack_from(">I", self._inbound)
                if length > MAX_FRAME_BYTES or length < 2:
                    raise BrokerError(0, f"bad frame length {length} from the broker")
                if len(self._inbound) >= 4 + length:
                    frame = bytes(self._inbound[4 : 4 + length])
                    del self._inbound[: 4 + length]
                    kind, ser, body = frame[0], frame[1], frame[2:]
                    if kind == ERROR:
                        raise BrokerError(body[0], body[1:].decode(errors="replace"))
                    return kind, ser, body
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self._inbound += chunk


class JSONQueue(Queue):
    """Values travel as JSON."""

    serializer_id = JSON_ID

    def encode(self, value):
        return json.dumps(value).encode()

    def decode(self, payload):
        return json.loads(payload)


class _DataOnlyUnpickler(pickle.Unpickler):
    """Refuses every class or function a pickle names: plain data only."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


class PickleQueue(Queue):
    """Values travel as pickles (plain data only; the broker refuses the rest)."""

    serializer_id = PICKLE_ID

    def encode(self, value):
        return pickle.dumps(value)

    def decode(self, payload):
        return _DataOnlyUnpickler(io.BytesIO(payload)).load()


def _to_xml(value):
    if value is None:
        return ET.Element("null")
    if isinstance(value, bool):
        e = ET.Element("bool")
        e.text = "true" if value else "false"
    elif isinstance(value, int):
        e = ET.Element("int")
        e.text = str(value)
    elif isinstance(value, float):
        e = ET.Element("float")
        e.text = repr(value)
    elif isinstance(value, str):
        e = ET.Element("str")
        e.text = value
    elif isinstance(value, (list, tuple)):
        e = ET.Element("list")
        e.extend(_to_xml(v) for v in value)
    elif isinstance(value, dict):
        e = ET.Element("dict")
        for k, v in value.items():
            item = ET.SubElement(e, "item", key=str(k))
            item.append(_to_xml(v))
    else:
        raise TypeError(f"cannot send {type(value).__name__} as XML")
    return e


def _from_xml(e, typed):
    if e.tag == "list":
        return [_from_xml(c, typed) for c in e]
    if e.tag == "dict":
        return {item.get("key"): _from_xml(item[0], typed) for item in e}
    if e.tag == "null":
        return None
    text = e.text or ""
    if not typed:
        return text
    if e.tag == "int":
        return int(text)
    if e.tag == "float":
        return float(text)
    if e.tag == "bool":
        return text.strip() == "true"
    return text


class XMLQueue(Queue):
    """Values travel in the XML mapping of docs/broker-protocol.md.

    As in the original broker, pull() hands scalars over as their text
    ("42"); lists and dicts keep their shape.
    """

    serializer_id = XML_ID

    def encode(self, value):
        return ET.tostring(_to_xml(value))

    def decode(self, payload):
        return _from_xml(ET.fromstring(payload), typed=False)

    def decode_topics(self, payload):
        return _from_xml(ET.fromstring(payload), typed=True)
