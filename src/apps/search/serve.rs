//! Running a search server process: bind, print `listening on ADDR`, stop
//! gracefully on SIGINT or SIGTERM. Shared by the worker and the master.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::thread;

use distloop_http::blocking::{Handler, Server, ServerLimits};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Binds `listen`, prints the listening line and serves until a signal.
pub fn serve_until_signalled<H: Handler>(
    role: &str,
    listen: SocketAddr,
    limits: ServerLimits,
    handler: H,
) -> io::Result<()> {
    let server = Server::bind(listen, limits, handler)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let stopper = server.stopper();
    let role_name = role.to_owned();
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            eprintln!("distloop search {role_name}: signal {signal}, stopping");
            stopper.stop();
        }
    });
    let addr = server.local_addr();
    let mut stdout = crate::cli::stdout();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()?;
    eprintln!("distloop search {role}: serving on {addr}");
    server.run()?;
    eprintln!("distloop search {role}: stopped");
    Ok(())
}
