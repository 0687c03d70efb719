//! One connector of the daemon: its live version, its runs, its status and counters.
//!
//! The live version (component and manifest) is an `Arc` swapped whole: a run takes
//! its own clone when it starts and finishes on that version, whatever is swapped in
//! meanwhile, so every envelope of a run names one digest. A new version replaces
//! the live one only after it compiled off the async runtime, instantiated, and
//! answered `source-name` like the version before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::Daemon;
use super::config::ConnectorEntry;
use crate::egress::Egress;
use crate::ingest::{self, Output, RunOptions};
use crate::lifecycle::{self, Event};
use crate::manifest::Manifest;
use crate::report::{RunReport, RunStatus};
use crate::resilience::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use crate::runtime::component::LoadedComponent;
use crate::runtime::sandbox::Sandbox;

/// A version of a connector that passed its checks.
pub struct Version {
    /// The compiled component.
    pub component: Arc<LoadedComponent>,
    /// Its manifest.
    pub manifest: Arc<Manifest>,
    /// What `source-name` answered; none for an evidence connector (no `source`).
    pub source_name: Option<String>,
    /// When it went live (RFC 3339).
    pub live_since: String,
    /// Its HTTP egress (kept across runs and versions while `[http]` is unchanged,
    /// so breakers and rate limits carry over).
    pub egress: Arc<Egress>,
    /// Its cache of evidence answers (`[cache]`); a new version starts it empty.
    pub evidence_cache: Arc<crate::evidence::cache::Cache>,
}

/// A new version that declares more than the live one: held back, not run, until an
/// operator approves it (`POST /connectors/{name}/approve`, `host approve`).
pub struct Pending {
    /// The version, checked and ready to go live.
    pub version: Arc<Version>,
    /// What it declares that the live version does not.
    pub added: Vec<String>,
    /// When it was parked (RFC 3339).
    pub since: String,
}

/// What the API shows of a version awaiting approval.
#[derive(Clone, Debug, Serialize)]
pub struct PendingView {
    /// Its digest.
    pub digest: String,
    /// The WIT package and version it was built against.
    pub package: &'static str,
    /// What it declares that the live version does not.
    pub added: Vec<String>,
    /// When it was parked (RFC 3339).
    pub since: String,
}

/// Histogram bucket bounds, in seconds (run and guest-call latency).
pub const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// A latency histogram (Prometheus style: cumulative buckets, sum, count).
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Counts per bucket of [`BUCKETS`] (not cumulative), and the +Inf overflow.
    pub counts: Vec<u64>,
    /// Sum of observations, in seconds.
    pub sum: f64,
    /// Observations.
    pub count: u64,
}

impl Histogram {
    /// Records `seconds`.
    pub fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len() + 1];
        }
        let i = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// Adds `other`'s observations.
    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len() + 1];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// A connector's counters, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Runs by outcome: ok, failed, circuit_open.
    pub runs_ok: u64,
    /// Failed runs.
    pub runs_failed: u64,
    /// Runs refused by the run breaker.
    pub runs_circuit_open: u64,
    /// Records fetched, published, unchanged, rejected, skipped, dead-lettered.
    pub fetched: u64,
    /// Published.
    pub published: u64,
    /// Unchanged.
    pub unchanged: u64,
    /// Rejected.
    pub rejected: u64,
    /// Skipped.
    pub skipped: u64,
    /// Not written again: their record id repeated in a run.
    pub repeated: u64,
    /// HTTP requests, retries, rate-limit wait (ms), breaker transitions.
    pub http_requests: u64,
    /// HTTP retries.
    pub http_retries: u64,
    /// HTTP rate-limit wait, ms.
    pub http_rate_limit_wait_ms: u64,
    /// Versions swapped in, and reloads refused.
    pub reloads: u64,
    /// Reloads refused.
    pub reload_failures: u64,
    /// Run latency.
    pub run_seconds: Histogram,
    /// Guest `list-drafts` call latency.
    pub call_seconds: Histogram,
    /// How late scheduled runs started after they were due.
    pub lag_seconds: Histogram,
    /// Runs stopped because the connector's lease was lost.
    pub runs_fenced: u64,
    /// Runs that failed for want of a resource of the host (descriptors, memory,
    /// disk).
    pub resource_failures: u64,
}

/// What the API shows of a connector.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// Whether a run is going on.
    pub running: bool,
    /// The last run's report.
    pub last_run: Option<serde_json::Value>,
    /// When the last successful run ended (RFC 3339).
    pub last_success_at: Option<String>,
    /// Why the last run failed, when it did.
    pub last_error: Option<String>,
    /// Why the last reload was refused, when it was (cleared by a good one).
    pub reload_error: Option<String>,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// Runs so far (all outcomes).
    pub runs: u64,
    /// When the next scheduled run is due (RFC 3339).
    pub next_run_at: Option<String>,
    /// How late the last scheduled run started after it was due, in milliseconds.
    pub last_lag_ms: Option<f64>,
    #[serde(skip)]
    last_success: Option<Instant>,
    /// When the next scheduled run is due.
    #[serde(skip)]
    pub(super) due: Option<Instant>,
}

/// The outcome of asking for a run.
pub enum RunOutcome {
    /// It ran; the report says how.
    Ran(Box<RunReport>),
    /// The run breaker is open: the guest was not called.
    CircuitOpen(Duration),
    /// A run of this connector is already going on.
    Busy,
    /// No version is live (it never loaded).
    NotLoaded,
    /// An on-demand run found every one of the `serve.max_parallel_runs` run slots
    /// taken (scheduled runs wait for one; a run asked for through the API does not
    /// hold its caller in a queue).
    NoRunSlot,
    /// The store is shared and another host holds this connector's lease (or none
    /// does yet): it runs there.
    NotLeased,
    /// The live version is an evidence connector: it has no records to run.
    NoSource,
}

/// One connector of the daemon.
pub struct Slot {
    /// Its name.
    pub name: String,
    entry: RwLock<ConnectorEntry>,
    live: RwLock<Option<Arc<Version>>>,
    pending: Mutex<Option<Pending>>,
    status: Mutex<Status>,
    counters: Mutex<Counters>,
    breaker: Mutex<CircuitBreaker>,
    run_lock: tokio::sync::Mutex<()>,
    /// Wakes the scheduler: a run was asked for, or the schedule changed.
    pub wake: tokio::sync::Notify,
    /// Set when the connector is removed: its scheduler ends.
    pub removed: AtomicBool,
}

impl Slot {
    /// A connector with nothing loaded yet.
    pub fn new(entry: ConnectorEntry, breaker: BreakerConfig) -> Slot {
        Slot {
            name: entry.name.clone(),
            entry: RwLock::new(entry),
            live: RwLock::new(None),
            pending: Mutex::new(None),
            status: Mutex::new(Status::default()),
            counters: Mutex::new(Counters::default()),
            breaker: Mutex::new(CircuitBreaker::new(breaker)),
            run_lock: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            removed: AtomicBool::new(false),
        }
    }

    /// Its configuration.
    pub fn entry(&self) -> ConnectorEntry {
        self.entry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces its configuration (a config reload); wakes the scheduler.
    pub fn set_entry(&self, entry: ConnectorEntry) {
        *self.entry.write().unwrap_or_else(|e| e.into_inner()) = entry;
        self.wake.notify_one();
    }

    /// The live version.
    pub fn live(&self) -> Option<Arc<Version>> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The version awaiting approval, if any, as the API shows it.
    pub fn pending(&self) -> Option<PendingView> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.as_ref().map(|p| PendingView {
            digest: p.version.component.digest.clone(),
            package: p.version.component.package(),
            added: p.added.clone(),
            since: p.since.clone(),
        })
    }

    /// Makes the version awaiting approval live; `None` if there is none.
    pub async fn approve(&self, daemon: &Daemon) -> Option<String> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        let digest = pending.version.component.digest.clone();
        tracing::warn!(connector = %self.name, %digest, added = %pending.added.join("; "),
            "new version approved by the operator; it is live");
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(pending.version.clone());
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).reloads += 1;
        self.record_approved(daemon, &pending.version).await;
        Some(digest)
    }

    /// Records in the store what the version that just went live declares: the
    /// baseline a later version is compared with, after a restart too.
    async fn record_approved(&self, daemon: &Daemon, version: &Version) {
        let declaration =
            version.component.declaration.as_ref().map(|d| serde_json::to_string(d).expect("a declaration serialises"));
        let now = crate::timestamp::now();
        if let Err(e) =
            daemon.store.record_approved(&self.name, &version.component.digest, declaration.as_deref(), &now).await
        {
            tracing::warn!(connector = %self.name, "cannot record the live version's declaration: {e}");
        }
    }

    /// What `component` declares beyond the version of this connector that last went
    /// live, by the store: how a version is judged when no version is live in this
    /// process (the daemon just started). Nothing when none ever went live. The store
    /// is waited for a while (a database restarting); one that still cannot say
    /// refuses the load, and a stored declaration that cannot be read parks the
    /// version: an unknown baseline is no approval.
    async fn added_since_approved(
        &self,
        daemon: &Daemon,
        component: &LoadedComponent,
    ) -> Result<Vec<String>, ReloadError> {
        let started = Instant::now();
        let mut wait = Duration::from_millis(250);
        let approved = loop {
            match daemon.store.approved(&self.name).await {
                Ok(approved) => break approved,
                Err(e) if started.elapsed() < BASELINE_PATIENCE => {
                    tracing::warn!(connector = %self.name, "cannot read the last approved declaration yet: {e}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(4));
                }
                Err(e) => return Err(ReloadError::Baseline(e)),
            }
        };
        let Some(approved) = approved.filter(|a| a.digest != component.digest) else { return Ok(Vec::new()) };
        let before = match approved.declaration.as_deref().map(serde_json::from_str::<crate::declaration::Declaration>)
        {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => return Ok(vec![format!("anything (the last approved declaration cannot be read: {e})")]),
        };
        Ok(crate::declaration::added(before.as_ref(), component.declaration.as_ref()))
    }

    /// Its status.
    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Its counters.
    pub fn counters(&self) -> Counters {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The run breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner()).state()
    }

    /// The HTTP breakers of its upstreams.
    pub fn http_breakers(&self) -> Vec<(String, BreakerState)> {
        match self.live() {
            Some(v) => v.egress.breakers().snapshot().into_iter().map(|(_, upstream, s)| (upstream, s)).collect(),
            None => Vec::new(),
        }
    }

    /// Whether its last successful run is within its health window.
    pub fn healthy(&self) -> bool {
        // An evidence connector runs nothing on a schedule: loaded is healthy.
        if let Some(v) = self.live()
            && !v.component.contract_exports().source
        {
            return true;
        }
        let window = self.entry().health_window;
        let status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.last_success.is_some_and(|t| t.elapsed() <= window)
    }

    /// Loads the configured component and manifest and, if they pass the checks,
    /// makes them the live version. A version that fails leaves the live one alone.
    pub async fn reload(&self, daemon: &Daemon) -> Result<ReloadOutcome, ReloadError> {
        let result = self.try_reload(daemon).await;
        match &result {
            Ok(ReloadOutcome::Swapped { digest }) => {
                tracing::info!(connector = %self.name, %digest, "new version live");
                if let Some(live) = self.live() {
                    self.record_approved(daemon, &live).await;
                }
                self.counters.lock().unwrap_or_else(|e| e.into_inner()).reloads += 1;
                self.status.lock().unwrap_or_else(|e| e.into_inner()).reload_error = None;
            }
            Ok(ReloadOutcome::Unchanged) => {}
            Ok(ReloadOutcome::Parked { digest, added, fresh }) => {
                if *fresh && self.live().is_some() {
                    tracing::warn!(connector = %self.name, %digest, added = %added.join("; "),
                        "the new version declares more than the live one: parked until an operator approves it (POST /connectors/{}/approve); the live version keeps running", self.name);
                } else if *fresh {
                    tracing::warn!(connector = %self.name, %digest, added = %added.join("; "),
                        "the version declares more than the last one an operator let go live: parked until an operator approves it (POST /connectors/{}/approve); the connector does not run meanwhile", self.name);
                }
                self.status.lock().unwrap_or_else(|e| e.into_inner()).reload_error = None;
            }
            Err(refused) => {
                let message = refused.to_string();
                tracing::error!(connector = %self.name, "reload refused, the live version keeps running: {message}");
                self.counters.lock().unwrap_or_else(|e| e.into_inner()).reload_failures += 1;
                self.status.lock().unwrap_or_else(|e| e.into_inner()).reload_error = Some(message.clone());
                if let Err(e) = self.record_refused_reload(daemon, &message).await {
                    tracing::warn!(connector = %self.name, "cannot record the Degraded event: {e}");
                }
            }
        }
        result
    }

    /// Records a refused reload as a degradation, when the connector's state allows
    /// one (a connector degraded or revoked already stays as it is).
    async fn record_refused_reload(&self, daemon: &Daemon, message: &str) -> Result<(), crate::store::StoreError> {
        let reduced = lifecycle::reduce(&self.name, &daemon.store.connector_events(&self.name).await?);
        let last_healthy_at = reduced.last_health_check.as_ref().map(|(at, _)| at.as_str());
        let reason = format!("reload refused: {message}");
        let end = lifecycle::RunEnd::Failed { reason: &reason, last_healthy_at };
        let now = crate::timestamp::now();
        let events: Vec<Event> = lifecycle::after_run(reduced.current_state, end, lifecycle::Trigger::Manual)
            .into_iter()
            .map(|kind| kind.event(&self.name, format!("reload:{}:{now}", self.name), &now))
            .collect();
        daemon.store.record_events(&events).await.map(drop)
    }

    async fn try_reload(&self, daemon: &Daemon) -> Result<ReloadOutcome, ReloadError> {
        let entry = self.entry();
        let env = |var: &str| std::env::var(var).ok();
        let manifest = entry.load_manifest(&daemon.config_path(), &env)?;
        let path = entry.component.clone();
        let read = |source| ReloadError::Read { path: entry.component.clone(), source };
        let bytes = tokio::task::spawn_blocking(move || {
            crate::files::read_bounded(&path, crate::files::MAX_COMPONENT, "a component")
        })
        .await
        .map_err(|e| read(std::io::Error::other(e)))?
        .map_err(read)?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let old = self.live();
        if let Some(old) = &old
            && old.component.digest == digest
            && manifest_eq(&old.manifest, &manifest)
        {
            // The files went back to the live version: nothing awaits approval.
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
            return Ok(ReloadOutcome::Unchanged);
        }
        if let Some(p) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && p.version.component.digest == digest
            && manifest_eq(&p.version.manifest, &manifest)
        {
            return Ok(ReloadOutcome::Parked { digest, added: p.added.clone(), fresh: false });
        }
        // Compiling takes a core and hundreds of MiB for seconds: never on the async
        // runtime's workers, and only `serve.max_parallel_compiles` at once.
        let compiling = daemon.compiles.acquire().await.expect("the compile semaphore is never closed");
        let (engine, shared) = (daemon.engine.clone(), daemon.components.clone());
        let path = entry.component.clone();
        let component =
            tokio::task::spawn_blocking(move || LoadedComponent::from_bytes_shared(&engine, &shared, &path, &bytes))
                .await
                .map_err(|e| ReloadError::CompilePanicked(e.to_string()))??;
        drop(compiling);
        let component = Arc::new(component);

        // The check: it instantiates under its manifest and names its source.
        let egress = match &old {
            Some(old) if old.manifest.http.settings == manifest.http.settings => old.egress.clone(),
            _ => Egress::new(&manifest),
        };
        let mut sandbox =
            Sandbox::start(&daemon.engine, &component, &manifest, egress.clone()).await.map_err(ReloadError::Start)?;
        // An evidence connector has no source, and so no name to check.
        let source_name = match component.contract_exports().source {
            true => Some(sandbox.source_name().await.map_err(ReloadError::Check)?),
            false => None,
        };
        drop(sandbox);
        if let Some(old) = &old
            && old.source_name != source_name
        {
            return Err(ReloadError::SourceChanged {
                new: source_name.unwrap_or_else(|| "none (an evidence connector)".into()),
                live: old.source_name.clone().unwrap_or_else(|| "none (an evidence connector)".into()),
            });
        }
        if let Some(old) = &old {
            log_grant_changes(&self.name, &old.manifest, &manifest);
        }
        // Least privilege across versions: a version that declares more than the live
        // one does not go live on its own (as a browser holds back an extension update
        // that asks for new permissions).
        let added = match &old {
            Some(old) => crate::declaration::added(old.component.declaration.as_ref(), component.declaration.as_ref()),
            None => self.added_since_approved(daemon, &component).await?,
        };
        let evidence_cache = Arc::new(crate::evidence::cache::Cache::new(&manifest.cache));
        let version = Arc::new(Version {
            component,
            manifest: Arc::new(manifest),
            source_name,
            live_since: crate::timestamp::now(),
            egress,
            evidence_cache,
        });
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !added.is_empty() {
            *pending = Some(Pending { version, added: added.clone(), since: crate::timestamp::now() });
            return Ok(ReloadOutcome::Parked { digest, added, fresh: true });
        }
        *pending = None;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(version);
        Ok(ReloadOutcome::Swapped { digest })
    }

    /// Holds off this connector's runs while the guard is kept (a cursor reset);
    /// `None` if a run is going on.
    pub fn hold_runs(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.run_lock.try_lock().ok()
    }

    /// Records when the next scheduled run is due.
    pub fn set_due(&self, due: Instant) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        s.due = Some(due);
        let at = SystemTime::now().checked_add(due.saturating_duration_since(Instant::now()));
        s.next_run_at = at.map(crate::timestamp::format);
    }

    /// Runs the connector once into the daemon's store, unless a run is going on or
    /// the run breaker is open.
    pub async fn run_once(&self, daemon: &Daemon, trigger: lifecycle::Trigger) -> RunOutcome {
        let Ok(_running) = self.run_lock.try_lock() else {
            return RunOutcome::Busy;
        };
        let Some(version) = self.live() else {
            return RunOutcome::NotLoaded;
        };
        if !version.component.contract_exports().source {
            return RunOutcome::NoSource;
        }
        // Held (not to be given back) until this function returns, whichever way.
        let taken = match &daemon.cluster {
            Some(me) => match me.take(&self.name) {
                Some(taken) => Some(taken),
                None => return RunOutcome::NotLeased,
            },
            None => None,
        };
        let _permit = if trigger == lifecycle::Trigger::Manual {
            match daemon.parallel.try_acquire() {
                Ok(permit) => permit,
                Err(_) => return RunOutcome::NoRunSlot,
            }
        } else {
            daemon.parallel.acquire().await.expect("the run semaphore is never closed")
        };
        let (acquired, probing) = {
            let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            let acquired = breaker.acquire(Instant::now());
            (acquired, breaker.state() == BreakerState::HalfOpen)
        };
        // A scheduled run let through once the breaker's wait was over is a retry
        // after backing off.
        let trigger =
            if probing && trigger == lifecycle::Trigger::Scheduled { lifecycle::Trigger::Backoff } else { trigger };
        if let Err(remaining) = acquired {
            self.counters.lock().unwrap_or_else(|e| e.into_inner()).runs_circuit_open += 1;
            tracing::warn!(connector = %self.name, remaining_ms = remaining.as_millis() as u64,
                "circuit_open: the connector failed too many runs in a row; not calling it");
            return RunOutcome::CircuitOpen(remaining);
        }
        let started = Instant::now();
        {
            let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
            s.running = true;
            if let Some(due) = s.due.take()
                && trigger != lifecycle::Trigger::Manual
            {
                let lag = started.saturating_duration_since(due).as_secs_f64();
                s.last_lag_ms = Some(lag * 1000.0);
                self.counters.lock().unwrap_or_else(|e| e.into_inner()).lag_seconds.observe(lag);
            }
        }
        let options = RunOptions {
            egress: Some(version.egress.clone()),
            stop: Some(daemon.stopping.clone()),
            trigger,
            lease: taken.as_ref().map(|t| t.lease.clone()),
            ..RunOptions::default()
        };
        let jsonl = match &self.entry().out {
            Some(path) => match crate::sink::JsonlSink::append(path) {
                Ok(sink) => Some(sink),
                Err(e) => {
                    tracing::error!(connector = %self.name, out = %path.display(), "cannot open the envelope file: {e}");
                    None
                }
            },
            None => None,
        };
        // The daemon's `out` file gets every envelope, as `serve.md` says (`--out-all`).
        let output = Output { jsonl, store: Some(daemon.store.clone()), jsonl_all: true };
        let report = ingest::run_into(&daemon.engine, &version.component, &version.manifest, &options, output).await;
        let elapsed = started.elapsed();
        let ok = report.status == RunStatus::Ok;
        // A run stopped because another host took the connector over says nothing
        // about the connector: no breaker failure, no retry; the new owner runs it.
        let fenced = report.error.as_ref().is_some_and(|e| e.kind == crate::report::FailureKind::Fenced);
        if fenced {
            tracing::warn!(connector = %self.name, "run stopped: its lease was lost; its page in flight was rolled back and the new owner resumes from the last committed page");
            let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            c.runs_fenced += 1;
        }
        if let Some(e) = report.error.as_ref().filter(|_| !fenced) {
            // The message may carry the connector's own words: cut and escaped.
            let message = crate::untrusted::Shown::text(&e.message);
            if e.resource_exhausted {
                self.counters.lock().unwrap_or_else(|e| e.into_inner()).resource_failures += 1;
                tracing::error!(connector = %self.name, kind = e.kind.as_str(),
                    "run failed: the host ran out of a resource (open files, memory or disk): {message}");
            } else {
                tracing::warn!(connector = %self.name, kind = e.kind.as_str(), "run failed: {message}");
            }
        }
        if !fenced {
            let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            if ok {
                breaker.on_success(Instant::now());
            } else {
                breaker.on_failure(Instant::now());
            }
            for (from, to) in breaker.take_transitions() {
                tracing::warn!(connector = %self.name, %from, %to, "run circuit breaker");
            }
        }
        if fenced {
            // The breaker's slot taken by `acquire` is handed back as a success.
            self.breaker.lock().unwrap_or_else(|e| e.into_inner()).on_success(Instant::now());
        }
        {
            let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            if ok {
                c.runs_ok += 1;
            } else {
                c.runs_failed += 1;
            }
            c.fetched += report.fetched;
            c.published += report.published;
            c.unchanged += report.skipped_unchanged;
            c.rejected += report.rejected;
            c.skipped += report.skipped;
            c.repeated += report.repeated;
            c.http_requests += report.http.requests;
            c.http_retries += report.http.retries;
            c.http_rate_limit_wait_ms += report.http.rate_limit_wait_ms;
            c.run_seconds.observe(elapsed.as_secs_f64());
            for ms in &report.call_ms {
                c.call_seconds.observe(ms / 1000.0);
            }
        }
        {
            let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
            s.running = false;
            s.runs += 1;
            s.last_run = serde_json::to_value(&report).ok();
            if ok {
                s.last_success = Some(Instant::now());
                s.last_success_at = Some(report.finished_at.clone());
                s.last_error = None;
                s.consecutive_failures = 0;
            } else {
                s.last_error = report.error.as_ref().map(|e| e.message.clone());
                s.consecutive_failures += 1;
            }
        }
        if !ok && !fenced && !daemon.stopping.load(Ordering::Relaxed) {
            self.schedule_retry(daemon, &report).await;
        }
        RunOutcome::Ran(Box::new(report))
    }

    /// Records SyncRetryScheduled: the failed run's pages are read again at the next
    /// scheduled run, from the committed cursor.
    async fn schedule_retry(&self, daemon: &Daemon, report: &RunReport) {
        let entry = self.entry();
        // An operator's poll interval may be centuries: never an overflow.
        let next =
            SystemTime::now().checked_add(entry.poll_interval).unwrap_or(SystemTime::UNIX_EPOCH + Duration::MAX / 4);
        let next = crate::timestamp::format(next);
        let failures = self.status.lock().unwrap_or_else(|e| e.into_inner()).consecutive_failures;
        let event = lifecycle::EventKind::SyncRetryScheduled {
            retry_attempt: failures,
            // After this many failures in a row the run breaker opens.
            max_retries: daemon.breaker_config().failure_threshold,
            next_retry_at: next,
            reason: report.error.as_ref().map(|e| e.message.clone()),
            resume_cursor: report.next_cursor.clone(),
        }
        .event(&self.name, format!("retry:{}:{}", self.name, report.started_at), &report.finished_at);
        if let Err(e) = daemon.store.record_events(&[event]).await {
            tracing::warn!(connector = %self.name, "cannot record SyncRetryScheduled: {e}");
        }
    }
}

/// Why a reload was refused (the live version, if any, keeps running).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The connector's manifest cannot be loaded.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// The component file cannot be read.
    #[error("cannot read component {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The component cannot be loaded.
    #[error(transparent)]
    Load(#[from] crate::runtime::component::LoadError),
    /// Compiling it panicked (a bug of the compiler; the daemon goes on).
    #[error("compiling panicked: {0}")]
    CompilePanicked(String),
    /// It does not instantiate under its manifest.
    #[error("the new version does not start: {0}")]
    Start(crate::runtime::sandbox::StartError),
    /// Its `source-name` fails.
    #[error("the new version fails its check: {0}")]
    Check(crate::runtime::guest_error::GuestError),
    /// The store cannot say what the last version that went live declared.
    #[error(
        "cannot read from the store what the last version that went live declared ({0}); the version is not \
         loaded until it can be compared"
    )]
    Baseline(crate::store::StoreError),
    /// It names another source than the live version.
    #[error("the new version says its source is `{new}`, the live one `{live}`; a swap may not change the source")]
    SourceChanged {
        /// The new version's source.
        new: String,
        /// The live version's.
        live: String,
    },
}

/// How long a first load waits for the store to say what was approved before.
const BASELINE_PATIENCE: Duration = Duration::from_secs(30);

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new version is live.
    Swapped {
        /// Its digest.
        digest: String,
    },
    /// The files are those of the live version.
    Unchanged,
    /// The new version declares more than the live one: it awaits approval.
    Parked {
        /// Its digest.
        digest: String,
        /// What it declares that the live version does not.
        added: Vec<String>,
        /// Whether it was parked just now (not already waiting).
        fresh: bool,
    },
}

fn manifest_eq(a: &Manifest, b: &Manifest) -> bool {
    a.name == b.name
        && a.source == b.source
        && a.config == b.config
        && a.dirs == b.dirs
        && a.limits == b.limits
        && a.http.settings == b.http.settings
}

/// Logs every grant a new manifest adds or takes away (directories, hosts, secrets,
/// trusted certificate authorities).
fn log_grant_changes(connector: &str, old: &Manifest, new: &Manifest) {
    let dirs = |m: &Manifest| -> Vec<String> {
        m.dirs
            .iter()
            .map(|d| format!("{} -> {}{}", d.host.display(), d.guest, if d.writable { " (rw)" } else { "" }))
            .collect()
    };
    let hosts = |m: &Manifest| -> Vec<String> { m.http.allow.iter().map(|r| r.text.clone()).collect() };
    let secrets = |m: &Manifest| -> Vec<String> {
        m.http.secrets.iter().map(|s| format!("{} for {} (from {})", s.header, s.host, s.from_env)).collect()
    };
    let cas =
        |m: &Manifest| -> Vec<String> { m.http.extra_roots.iter().map(|r| r.path.display().to_string()).collect() };
    for (what, before, after) in [
        ("directory", dirs(old), dirs(new)),
        ("http host", hosts(old), hosts(new)),
        ("secret", secrets(old), secrets(new)),
        ("trusted certificate authority", cas(old), cas(new)),
    ] {
        for g in after.iter().filter(|g| !before.contains(g)) {
            tracing::warn!(connector, grant = %g, "grant added by the operator's manifest: {what}");
        }
        for g in before.iter().filter(|g| !after.contains(g)) {
            tracing::info!(connector, grant = %g, "grant removed: {what}");
        }
    }
}
