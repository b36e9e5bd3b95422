//! Replicated file backup: a manager, storage servers and a client.
