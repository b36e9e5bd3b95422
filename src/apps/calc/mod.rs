//! The distributed calculator: exact expressions, servers with a status port.
