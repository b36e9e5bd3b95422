//! Echo servers in four models (simple, sequential, threaded, evented) and a client.
