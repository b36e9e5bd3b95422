//! Running a balancer: one or more workers (each a reactor on its own
//! thread with its own SO_REUSEPORT listener), the admin listener, and the
//! main thread turning signals into shutdowns and reloads.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::access_log::AccessLog;
use super::admin::{AdminCommand, AdminHub, AdminServer};
use super::backends::Backends;
use super::config::MAX_DRAIN_TIMEOUT;
use super::handover::{HandoverServer, Inherited, Offer};
use super::worker::WorkerLink;
use super::{LbConfig, LbError, Mode, http, tcp};
use crate::reactor::{self, Context, ListenOptions, Reactor, Readiness, Service, TimerId, Token};
use crate::{error, info, warn};

/// The balancer of either mode, as one service.
enum Proxy {
    Tcp(tcp::TcpBalancer),
    Http(http::HttpBalancer),
}

impl Proxy {
    fn service(&mut self) -> &mut dyn Service {
        match self {
            Proxy::Tcp(s) => s,
            Proxy::Http(s) => s,
        }
    }
}

impl Service for Proxy {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.service().on_start(ctx);
    }
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        self.service().on_ready(ctx, token, readiness);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        self.service().on_timer(ctx, id, payload);
    }
    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        self.service().on_shutdown(ctx);
    }
    fn is_drained(&self) -> bool {
        match self {
            Proxy::Tcp(s) => s.is_drained(),
            Proxy::Http(s) => s.is_drained(),
        }
    }
    fn on_wake(&mut self, ctx: &mut Context<'_>) {
        self.service().on_wake(ctx);
    }
}

struct Worker {
    reactor: Reactor,
    service: Proxy,
}

/// A bound balancer, ready to run.
pub struct Balancer {
    workers: Vec<Worker>,
    admin: Option<(Reactor, AdminServer)>,
    hub: Arc<AdminHub>,
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    config: LbConfig,
    signals: Signals,
    /// Copies of the listeners (clients, then admin), for a handover.
    listener_fds: Vec<OwnedFd>,
    upgrade_socket: Option<PathBuf>,
}

impl Balancer {
    /// Validates `config`, binds the listeners and prepares the event loops.
    pub fn bind(config: LbConfig) -> Result<Self, LbError> {
        Self::bind_inherited(config, None)
    }

    /// As [`Balancer::bind`], but on the listeners a running balancer handed
    /// over (one per worker, see [`super::handover`]) when there are some.
    pub fn bind_inherited(config: LbConfig, inherited: Option<Inherited>) -> Result<Self, LbError> {
        config.validate().map_err(LbError::Config)?;
        // Caught from here on: a signal sent as soon as the address is known
        // stops the balancer gracefully instead of killing it.
        let signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        let count = config.workers.max(1);
        let options = ListenOptions {
            reuse_port: count > 1,
            ..ListenOptions::default()
        };
        let bind_error = |addr, source| LbError::Bind { addr, source };
        let (mut taken, admin_taken) = match inherited {
            Some(inherited) => {
                let clients = inherited
                    .clients
                    .into_iter()
                    .map(listener_of)
                    .collect::<Result<Vec<_>, _>>()?;
                (clients, inherited.admin.map(listener_of).transpose()?)
            }
            None => (Vec::new(), None),
        };
        taken.reverse();
        let first = match taken.pop() {
            Some(listener) => listener,
            None => {
                reactor::listen(config.listen, options).map_err(|e| bind_error(config.listen, e))?
            }
        };
        let local_addr = first.local_addr()?;
        let mut listener_fds = Vec::with_capacity(count + 1);
        let hub = AdminHub::new(count);
        let mut workers = Vec::with_capacity(count);
        let mut listener = Some(first);
        for id in 0..count {
            let listener = match listener.take().or_else(|| taken.pop()) {
                Some(listener) => listener,
                None => {
                    reactor::listen(local_addr, options).map_err(|e| bind_error(local_addr, e))?
                }
            };
            listener_fds.push(listener.as_fd().try_clone_to_owned()?);
            let mut reactor = Reactor::new()?;
            // The service ends its drain after the configured (and reloadable)
            // drain timeout; the reactor's bound is only a backstop.
            reactor.set_drain_timeout(MAX_DRAIN_TIMEOUT);
            let link = WorkerLink::new(id, Arc::clone(&hub), hub.attach(reactor.handle()));
            let access_log = match &config.access_log {
                Some(path) => Some(AccessLog::open(path).map_err(LbError::Io)?),
                None => None,
            };
            let backends = Backends::new(&config, access_log);
            // Published now, so that the admin port knows every backend (and
            // accepts drain/ready for it) before the first periodic publish.
            let mode = config.mode.to_string();
            let (now, wall) = (std::time::Instant::now(), std::time::SystemTime::now());
            hub.publish(id, backends.snapshot(&mode, 0, 0, now, wall));
            let service = match config.mode {
                Mode::Tcp => {
                    let mut service =
                        tcp::TcpBalancer::new(config.clone(), listener, backends, Some(link));
                    service.register(reactor.registry())?;
                    Proxy::Tcp(service)
                }
                Mode::Http => {
                    let mut service =
                        http::HttpBalancer::new(config.clone(), listener, backends, Some(link));
                    service.register(reactor.registry())?;
                    Proxy::Http(service)
                }
            };
            workers.push(Worker { reactor, service });
        }
        let (admin, admin_addr) = match (config.admin, admin_taken) {
            (Some(_), Some(listener)) => {
                let reactor = Reactor::new()?;
                listener_fds.push(listener.as_fd().try_clone_to_owned()?);
                let (server, bound) =
                    AdminServer::on_listener(&reactor, listener, Arc::clone(&hub))?;
                (Some((reactor, server)), Some(bound))
            }
            (Some(addr), None) => {
                let reactor = Reactor::new()?;
                let listener = reactor::listen(addr, reactor::ListenOptions::default())
                    .map_err(|e| bind_error(addr, e))?;
                listener_fds.push(listener.as_fd().try_clone_to_owned()?);
                let (server, bound) =
                    AdminServer::on_listener(&reactor, listener, Arc::clone(&hub))?;
                (Some((reactor, server)), Some(bound))
            }
            (None, _) => (None, None),
        };
        Ok(Self {
            workers,
            admin,
            hub,
            local_addr,
            admin_addr,
            config,
            signals,
            listener_fds,
            upgrade_socket: None,
        })
    }

    /// Answers upgrades on the Unix socket `path`: a new balancer started
    /// with the same path takes the listeners over, then this one drains.
    pub fn serve_upgrades(&mut self, path: PathBuf) {
        self.upgrade_socket = Some(path);
    }

    /// The address clients connect to (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Serves until SIGINT or SIGTERM, then drains and returns. SIGHUP calls
    /// `reload` for a new configuration and hands it to every worker; a
    /// refused one (`Err`, already explained) leaves the running one.
    pub fn run(self, mut reload: impl FnMut() -> Result<LbConfig, String>) -> Result<(), LbError> {
        let mut signals = self.signals;
        let mut handles: Vec<reactor::Handle> =
            self.workers.iter().map(|w| w.reactor.handle()).collect();
        if let Some((reactor, _)) = &self.admin {
            handles.push(reactor.handle());
        }
        let upgrades = match self.upgrade_socket {
            Some(path) => {
                let offer = Offer {
                    workers: self.workers.len(),
                    admin: self.admin.is_some(),
                    listen: self.local_addr,
                };
                Some(
                    HandoverServer::start(path.clone(), offer, self.listener_fds, handles.clone())
                        .map_err(|e| {
                            LbError::Io(std::io::Error::new(
                                e.kind(),
                                format!("upgrade socket {}: {e}", path.display()),
                            ))
                        })?,
                )
            }
            None => {
                // Without upgrades the copies have no use, and would keep
                // the port open through a drain.
                drop(self.listener_fds);
                None
            }
        };
        let mut threads = Vec::new();
        for (id, mut worker) in self.workers.into_iter().enumerate() {
            let thread = thread::Builder::new()
                .name(format!("worker-{id}"))
                .spawn(move || worker.reactor.run(&mut worker.service))?;
            threads.push(thread);
        }
        let admin_thread = match self.admin {
            Some((mut reactor, mut server)) => Some(
                thread::Builder::new()
                    .name("admin".into())
                    .spawn(move || reactor.run(&mut server))?,
            ),
            None => None,
        };
        // Ends the signal loop once every worker has stopped for any reason.
        let closer = signals.handle();
        let watcher = thread::spawn(move || {
            let outcomes: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
            closer.close();
            outcomes
        });
        let running = self.config;
        for signal in signals.forever() {
            match signal {
                SIGHUP => match reload() {
                    Ok(config) => {
                        if config.mode != running.mode
                            || config.listen != running.listen
                            || config.workers != running.workers
                            || config.admin != running.admin
                            || config.access_log != running.access_log
                        {
                            warn!(
                                "a reload changes backends, weights, strategy, checks, limits and timeouts; mode, listen address, workers, admin address and access log need a restart"
                            );
                        }
                        info!(
                            "reloading: {} backend(s), {}",
                            config.backends.len(),
                            config.strategy
                        );
                        self.hub.send(&AdminCommand::Reload(Box::new(config)));
                    }
                    Err(why) => error!("reload refused, running configuration kept: {why}"),
                },
                _ => {
                    info!("stopping: finishing work in flight (a second signal stops at once)");
                    if let Some(upgrades) = &upgrades {
                        upgrades.stop();
                    }
                    for handle in &handles {
                        handle.shutdown();
                    }
                }
            }
        }
        let outcomes = watcher.join().unwrap_or_default();
        for handle in &handles {
            handle.shutdown();
        }
        if let Some(admin) = admin_thread {
            let _ = admin.join();
        }
        if let Some(upgrades) = upgrades {
            upgrades.stop();
        }
        for outcome in outcomes {
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LbError::Io(e)),
                Err(_) => return Err(LbError::Io(std::io::Error::other("a worker panicked"))),
            }
        }
        Ok(())
    }
}

/// A listener passed from another process, made ready for the reactor.
fn listener_of(fd: OwnedFd) -> std::io::Result<reactor::TcpListener> {
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    Ok(reactor::TcpListener::from_std(listener))
}
