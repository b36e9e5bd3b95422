//! Distributed keyword search: a counting core, workers and a master with a web page.
