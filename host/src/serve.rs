//! `host serve`: the daemon. It polls many connectors into one store, swaps a
//! connector's component or manifest when its file changes (without a restart and
//! without disturbing a run), and answers an admin API with health and metrics.
//!
//! - One scheduler task per connector ([`schedule`]): a run, then the poll interval
//!   with jitter; at most one run of a connector at a time, at most
//!   `serve.max_parallel_runs` runs at once.
//! - A watcher ([`watch`]) reloads a connector when its component or manifest file
//!   changes, and the whole config when the config file does; SIGHUP and
//!   `POST /connectors/{name}/reload` reload too.
//! - The admin API ([`api`]) and the operator console in the browser
//!   ([`console`]) are served by a bounded accept loop ([`listen`]): a
//!   capped number of connections, timeouts for request heads and bodies, and room
//!   kept for `/health` through a flood. Record lookups and on-demand runs beyond
//!   their bounds are answered 503 with `Retry-After`, not queued.
//! - SIGTERM or SIGINT: scheduling stops, running runs stop before their next page
//!   (the page in progress commits or rolls back whole), and the process exits
//!   within `serve.shutdown_grace_ms`.

pub mod api;
pub mod cluster;
pub mod config;
pub mod console;
pub mod evidence;
pub mod listen;
pub mod metrics;
pub mod slot;
pub mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::resilience::breaker::BreakerConfig;
use crate::runtime::engine::Engine;
use crate::store::Store;
use config::{ConnectorEntry, ServeConfig};
use slot::Slot;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The connectors file.
    pub config: PathBuf,
    /// The admin API's address.
    pub listen: SocketAddr,
    /// The bearer token the admin API requires (required off loopback).
    pub token: Option<String>,
    /// The compile cache directory.
    pub cache_dir: Option<PathBuf>,
}

/// The daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The config file is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine could not be set up.
    #[error(transparent)]
    Engine(#[from] crate::runtime::engine::EngineError),
    /// The admin API cannot listen.
    #[error("the admin API cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The admin API would be open to the network without a token.
    #[error(
        "the admin API would listen on {0}, which is not a loopback address, without a token: set --token or HOST_ADMIN_TOKEN"
    )]
    NoToken(SocketAddr),
}

/// What the daemon's tasks share.
pub struct Daemon {
    /// The engine every connector runs on.
    pub engine: Engine,
    /// The compiled components, one per digest, shared by the connectors.
    pub components: Arc<crate::runtime::component::Shared>,
    /// The store every connector ingests into.
    pub store: Store,
    /// Bounds runs in parallel across connectors.
    pub parallel: tokio::sync::Semaphore,
    /// Bounds record lookups in parallel across connectors.
    pub lookups: tokio::sync::Semaphore,
    /// Bounds compiles in parallel (`serve.max_parallel_compiles`).
    pub compiles: tokio::sync::Semaphore,
    /// The sizes of `parallel` and `lookups` (a config reload does not resize them).
    max_parallel: (usize, usize),
    /// Set on SIGTERM/SIGINT: no new runs; running ones stop before their next page.
    pub stopping: Arc<AtomicBool>,
    /// The connectors, by name.
    pub slots: RwLock<BTreeMap<String, Arc<Slot>>>,
    /// Config entries that are wrong, with why.
    pub config_errors: RwLock<Vec<(String, String)>>,
    config: RwLock<ServeConfig>,
    /// The admin token, if any.
    pub token: Option<String>,
    /// When the daemon started.
    pub started_at: String,
    /// This host's membership of the hosts sharing a PostgreSQL store; `None` on
    /// SQLite.
    pub cluster: Option<Arc<cluster::Membership>>,
}

impl Daemon {
    /// The config file's path.
    pub fn config_path(&self) -> PathBuf {
        self.config.read().unwrap_or_else(|e| e.into_inner()).path.clone()
    }

    /// A connector by name.
    pub fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Every connector.
    pub fn all(&self) -> Vec<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// `serve.max_parallel_runs` as the daemon started with it.
    pub fn max_parallel_runs(&self) -> usize {
        self.max_parallel.0
    }

    /// `serve.max_parallel_lookups` as the daemon started with it.
    pub fn max_parallel_lookups(&self) -> usize {
        self.max_parallel.1
    }

    /// `serve.metrics_per_connector`.
    pub fn metrics_per_connector(&self) -> Option<bool> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).settings.metrics_per_connector
    }

    /// The run breaker's settings.
    pub fn breaker_config(&self) -> BreakerConfig {
        let c = self.config.read().unwrap_or_else(|e| e.into_inner());
        BreakerConfig {
            failure_threshold: c.settings.run_breaker.failure_threshold,
            reset_after: Duration::from_millis(c.settings.run_breaker.reset_ms),
            half_open_probes: 1,
        }
    }

    /// Every file the watcher must watch, with the connector it belongs to (`None`:
    /// the config file).
    pub fn watched(&self) -> Vec<(PathBuf, Option<String>)> {
        let mut v = vec![(self.config_path(), None)];
        for slot in self.all() {
            for p in slot.entry().watched() {
                v.push((p, Some(slot.name.clone())));
            }
        }
        v
    }

    /// Re-reads the config file: adds, removes and re-schedules connectors, leaving
    /// the unchanged ones alone.
    pub async fn reload_config(self: &Arc<Self>) -> Result<(), String> {
        let path = self.config_path();
        let env = |var: &str| std::env::var(var).ok();
        let new = config::load(&path, &env).map_err(|e| e.to_string())?;
        for (who, why) in &new.errors {
            tracing::error!("{}: {who}: {why}; it is left out", path.display());
        }
        *self.config_errors.write().unwrap_or_else(|e| e.into_inner()) = new.errors.clone();
        let entries = new.connectors.clone();
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = new;
        let current: Vec<String> = self.slots.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        for name in current.iter().filter(|n| !entries.contains_key(*n)) {
            if let Some(slot) = self.slots.write().unwrap_or_else(|e| e.into_inner()).remove(name) {
                tracing::info!(connector = %name, "removed from the config; its schedule ends");
                slot.removed.store(true, Ordering::Relaxed);
                slot.wake.notify_one();
            }
        }
        for (name, entry) in entries {
            match self.slot(&name) {
                Some(slot) if slot.entry() == entry => {}
                Some(slot) => {
                    tracing::info!(connector = %name, "its config entry changed");
                    slot.set_entry(entry);
                    let _ = slot.reload(self).await;
                }
                None => self.add(entry).await,
            }
        }
        Ok(())
    }

    /// Adds a connector and starts its schedule, unless one of that name is there
    /// already (the start-up loading and a config reload may both reach a new entry).
    /// It is listed from the start; it runs once its version is loaded.
    async fn add(self: &Arc<Self>, entry: ConnectorEntry) {
        let slot = {
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            if slots.contains_key(&entry.name) {
                return;
            }
            let slot = Arc::new(Slot::new(entry, self.breaker_config()));
            slots.insert(slot.name.clone(), slot.clone());
            slot
        };
        if let Err(e) = slot.reload(self).await {
            tracing::error!(connector = %slot.name, "cannot load: {e}; it runs once a good version is in place");
        }
        tokio::spawn(schedule(self.clone(), slot));
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        return Err(ServeError::NoToken(options.listen));
    }
    let env = |var: &str| std::env::var(var).ok();
    let cfg = config::load(&options.config, &env)?;
    for (who, why) in &cfg.errors {
        tracing::error!("{}: {who}: {why}; it is left out", options.config.display());
    }
    let cap = open_file_limit();
    let store = Store::open(&cfg.settings.store).await?;
    let engine = Engine::new(crate::runtime::engine::EngineOptions { cache_dir: options.cache_dir.clone() })?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Listen { addr: options.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen { addr: options.listen, source })?;
    let membership = (store.kind() == crate::store::Kind::Postgres).then(|| {
        let ttl = Duration::from_millis(cfg.settings.leases.ttl_ms);
        Arc::new(cluster::Membership::new(cfg.settings.host_id.clone(), ttl, addr.to_string()))
    });
    let daemon = Arc::new(Daemon {
        engine,
        components: Default::default(),
        store,
        parallel: tokio::sync::Semaphore::new(cfg.settings.max_parallel_runs),
        lookups: tokio::sync::Semaphore::new(cfg.settings.max_parallel_lookups),
        compiles: tokio::sync::Semaphore::new(cfg.settings.max_parallel_compiles),
        max_parallel: (cfg.settings.max_parallel_runs, cfg.settings.max_parallel_lookups),
        stopping: Arc::new(AtomicBool::new(false)),
        slots: RwLock::new(BTreeMap::new()),
        config_errors: RwLock::new(cfg.errors.clone()),
        config: RwLock::new(cfg.clone()),
        token: options.token.clone(),
        started_at: crate::timestamp::now(),
        cluster: membership.clone(),
    });
    if let Some(me) = &membership {
        tracing::info!(host = %me.host_id, ttl_ms = me.ttl.as_millis() as u64,
            "the store is shared: this host runs the connectors whose leases it holds");
        tokio::spawn(cluster::keep(daemon.clone(), me.clone()));
    }
    // The connectors load in the background, one after another (those of one
    // component share its compiled code, so each after the first is quick): the
    // admin API answers at once, however many there are.
    let loading = daemon.clone();
    let entries: Vec<ConnectorEntry> = cfg.connectors.into_values().collect();
    let count = entries.len();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        for entry in entries {
            if loading.stopping.load(Ordering::Relaxed) {
                return;
            }
            loading.add(entry).await;
        }
        tracing::info!(connectors = count, took_ms = started.elapsed().as_millis() as u64, "every connector is loaded");
    });
    let watcher = watch::start(daemon.clone(), Duration::from_millis(cfg.settings.reload_debounce_ms));
    if let Err(e) = &watcher {
        tracing::warn!("cannot watch files for changes ({e}); reload with SIGHUP or the API");
    }
    let app = api::router(daemon.clone());
    let server = tokio::spawn(listen::serve(listener, app, cap));
    tracing::info!(%addr, connectors = count, "serving; admin API on http://{addr}");
    eprintln!("host serve: admin API on http://{addr}");

    signals(&daemon).await;
    // Shutdown: no new runs; running ones stop before their next page.
    daemon.stopping.store(true, Ordering::Relaxed);
    for slot in daemon.all() {
        slot.wake.notify_one();
    }
    let grace =
        Duration::from_millis(daemon.config.read().unwrap_or_else(|e| e.into_inner()).settings.shutdown_grace_ms);
    let deadline = tokio::time::Instant::now() + grace;
    while daemon.all().iter().any(|s| s.status().running) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if daemon.all().iter().any(|s| s.status().running) {
        tracing::warn!("runs still going after {} ms; exiting (their open page rolls back)", grace.as_millis());
    }
    if let Some(me) = &daemon.cluster {
        cluster::leave(&daemon, me).await;
    }
    server.abort();
    drop(watcher);
    daemon.store.truncate_wal().await;
    tracing::info!("stopped");
    Ok(())
}

/// Raises the open-file limit where allowed, logs it, and returns the admin API's
/// connection cap under it.
fn open_file_limit() -> usize {
    let Some(limit) = listen::raise_open_file_limit() else {
        tracing::warn!("cannot read the open-file limit; at most {} admin API connections", listen::MAX_CONNECTIONS);
        return listen::MAX_CONNECTIONS;
    };
    let cap = listen::connection_cap(limit.now);
    match &limit.error {
        None if limit.now > limit.before => tracing::info!(
            "open-file limit raised from {} to {} (the hard limit); at most {cap} admin API connections",
            limit.before,
            limit.now
        ),
        None => {
            tracing::info!("open-file limit {} (hard {}); at most {cap} admin API connections", limit.now, limit.hard)
        }
        Some(e) => tracing::warn!(
            "open-file limit {}: cannot raise it to the hard limit {} ({e}); at most {cap} admin API connections",
            limit.now,
            limit.hard
        ),
    }
    cap
}

/// Waits for SIGTERM or SIGINT; reloads everything on SIGHUP meanwhile.
async fn signals(daemon: &Arc<Daemon>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); return }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the config and every connector");
                if let Err(e) = daemon.reload_config().await {
                    tracing::error!("config reload refused: {e}");
                }
                for slot in daemon.all() {
                    let _ = slot.reload(daemon).await;
                }
            }
        }
    }
}

/// A connector's schedule: run, wait the interval (with jitter) or a wake-up, repeat.
async fn schedule(daemon: Arc<Daemon>, slot: Arc<Slot>) {
    loop {
        if daemon.stopping.load(Ordering::Relaxed) || slot.removed.load(Ordering::Relaxed) {
            return;
        }
        let entry = slot.entry();
        let mut delay = jittered(entry.poll_interval, entry.jitter);
        // (A connector whose lease another host holds is not run: `NotLeased`; it
        // waits to be woken by a lease taken, or the interval, to look again.)
        if entry.enabled
            && let slot::RunOutcome::CircuitOpen(remaining) =
                slot.run_once(&daemon, crate::lifecycle::Trigger::Scheduled).await
        {
            // Do not knock every interval while the breaker is open.
            delay = delay.max(remaining);
        }
        slot.set_due(tokio::time::Instant::now().into_std() + delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = slot.wake.notified() => {}
        }
    }
}

fn jittered(interval: Duration, jitter: f64) -> Duration {
    let f = 1.0 + jitter * (2.0 * crate::resilience::retry::jitter_sample() - 1.0);
    interval.mul_f64(f.max(0.0))
}

/// The canonical form of `path` for matching watcher events: its directory resolved,
/// its file name kept.
pub fn canonical(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}
