//! One sandboxed instance of a connector: a fresh store with its caps and deadlines,
//! and typed calls of the connector's exports.
//!
//! Deadlines are wall-clock, and they hold wherever the time goes. In guest code
//! they are enforced through epoch interruption: every [`SLICE_TICKS`] ticks the
//! guest yields to the async runtime (so a guest spinning in a loop cannot keep
//! other connectors off a worker thread), and once the call's deadline (or the
//! run's, if sooner) has passed it is interrupted instead. Time spent in host calls
//! (a WASI `sleep`, a poll on a pollable, an HTTP request) is bounded by the same
//! deadline: the whole call is a future raced against it, and dropping that future
//! at the deadline cancels the guest call wherever it is. A call is never started
//! once the run's deadline has passed, however short it would be.

use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use super::bindings::{v1, v1_1};
use super::capabilities::HostState;
use super::component::{LoadedComponent, World};
use super::engine::{Engine, SLICE_TICKS};
use super::guest_error::GuestError;
use super::v1::ColumnsError;
use crate::contract::{ConnectorError, Draft, DraftPage, Evidence, PageRequest, SourceRecord};
use crate::manifest::Manifest;

const STARTED: &str = "a started sandbox has an instance";

/// The longest `source-name` the host accepts.
pub const MAX_SOURCE_NAME: usize = 128;

/// Awaits `$future`, a call into the guest, under `$deadline`: times it into
/// `last_call` and classifies a failure as `$call`. (A macro, because the future
/// borrows the bindings and the store, two fields of the sandbox, at once.)
macro_rules! timed {
    ($self:ident, $call:expr, $deadline:expr, $future:expr) => {{
        let started = Instant::now();
        let result = tokio::time::timeout_at($deadline.into(), $future).await;
        $self.last_call = started.elapsed();
        match result {
            Ok(result) => result.map_err(|e| $self.fail($call, e)),
            Err(_) => Err($self.past_deadline($call)),
        }
    }};
}

/// An instance, by the version of the connector world its component implements.
enum Instance {
    /// `partner:connector@1.x`: its `source` export, its `evidence` export, or both.
    V1 {
        source: Option<v1::exports::partner::connector::source::Guest>,
        evidence: Option<v1_1::exports::partner::connector::evidence::Guest>,
        columnar: Option<v1_1::columnar::exports::partner::connector::columnar::Guest>,
    },
}

/// The interfaces a call needs, for [`GuestError::NotExported`].
const SOURCE: &str = "partner:connector/source";
const EVIDENCE: &str = "partner:connector/evidence";

/// A live instance of a connector, for one run.
pub struct Sandbox {
    store: Store<HostState>,
    instance: Option<Instance>,
    name: String,
    timeout_ms: u64,
    run_timeout_ms: u64,
    run_deadline: Instant,
    max_records: usize,
    max_page_bytes: u64,
    last_call: Duration,
    /// Its slot in the engine's pool, given back after the store is dropped (the
    /// fields above drop first).
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// The sandbox could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A granted directory could not be opened.
    #[error(transparent)]
    Grant(#[from] super::capabilities::wasi::GrantError),
    /// Instantiating the component failed (or trapped).
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The manifest grants less than the component declares it needs.
    #[error(transparent)]
    Undergranted(#[from] crate::declaration::Undergranted),
}

impl Sandbox {
    /// Instantiates `component` in a fresh store set up from `manifest`.
    pub async fn start(
        engine: &Engine,
        component: &LoadedComponent,
        manifest: &Manifest,
        egress: std::sync::Arc<crate::egress::Egress>,
    ) -> Result<Sandbox, StartError> {
        // A component that declares more than it is granted would fail somewhere
        // inside a run; it is refused before its first call instead.
        crate::declaration::require(component.declaration.as_ref(), manifest)?;
        let limits = &manifest.limits;
        let state = HostState::new(manifest, egress)?;
        let slot = engine.sandbox_slot().await;
        let mut store = Store::new(engine.wasmtime(), state);
        store.limiter(|s| &mut s.limits);
        // What the host copies out of the guest in one call (a page of drafts, a log
        // line, a request) is bounded, so a guest cannot make the host allocate
        // without end.
        store.set_hostcall_fuel(usize::try_from(limits.page_bytes()).unwrap_or(usize::MAX));
        store.epoch_deadline_callback(|ctx| match ctx.data().deadline {
            Some(deadline) if Instant::now() >= deadline => Ok(UpdateDeadline::Interrupt),
            _ => Ok(UpdateDeadline::Yield(SLICE_TICKS)),
        });
        let mut sandbox = Sandbox {
            store,
            instance: None,
            name: manifest.name.clone(),
            timeout_ms: limits.call_timeout_ms,
            run_timeout_ms: limits.run_timeout_ms,
            run_deadline: Instant::now() + Duration::from_millis(limits.run_timeout_ms),
            max_records: limits.max_records_per_page as usize,
            max_page_bytes: limits.page_bytes(),
            last_call: Duration::ZERO,
            _slot: slot,
        };
        const CALL: &str = "instantiate";
        let deadline = sandbox.arm(CALL)?;
        let instance = match &*component.pre {
            World::V1 { pre, source, evidence, columnar, .. } => {
                let instance = timed!(sandbox, CALL, deadline, pre.instantiate_async(&mut sandbox.store))?;
                // Loading an export type-checks it against the contract.
                let source = match source {
                    Some(indices) => {
                        Some(indices.load(&mut sandbox.store, &instance).map_err(|e| sandbox.fail(CALL, e))?)
                    }
                    None => None,
                };
                let evidence = match evidence {
                    Some(indices) => {
                        Some(indices.load(&mut sandbox.store, &instance).map_err(|e| sandbox.fail(CALL, e))?)
                    }
                    None => None,
                };
                let columnar = match columnar {
                    Some(indices) => {
                        Some(indices.load(&mut sandbox.store, &instance).map_err(|e| sandbox.fail(CALL, e))?)
                    }
                    None => None,
                };
                Instance::V1 { source, evidence, columnar }
            }
        };
        sandbox.instance = Some(instance);
        Ok(sandbox)
    }

    /// Sets the deadline of the next call, `call`: its own, or the run's if that is
    /// sooner. Once the run's deadline has passed, no call starts: a connector whose
    /// every call is short must not run on past the run's deadline one call at a time.
    fn arm(&mut self, call: &'static str) -> Result<Instant, GuestError> {
        let now = Instant::now();
        if now >= self.run_deadline {
            return Err(self.past_deadline(call));
        }
        let deadline = (now + Duration::from_millis(self.timeout_ms)).min(self.run_deadline);
        self.store.data_mut().deadline = Some(deadline);
        self.store.set_epoch_deadline(SLICE_TICKS);
        Ok(deadline)
    }

    /// When the run must end.
    pub fn run_deadline(&self) -> Instant {
        self.run_deadline
    }

    /// The error of `call` stopped at (or not started after) its deadline.
    fn past_deadline(&self, call: &'static str) -> GuestError {
        let (limit, limit_ms) = self.deadline_in_force();
        GuestError::Deadline { connector: self.name.clone(), call, limit, limit_ms }
    }

    /// The deadline that stops a call now: the run's once it has passed, else the call's.
    fn deadline_in_force(&self) -> (&'static str, u64) {
        if Instant::now() >= self.run_deadline {
            ("limits.run_timeout_ms", self.run_timeout_ms)
        } else {
            ("limits.call_timeout_ms", self.timeout_ms)
        }
    }

    fn fail(&self, call: &'static str, e: wasmtime::Error) -> GuestError {
        GuestError::from_wasmtime(&self.name, call, self.deadline_in_force(), self.max_page_bytes, e)
    }

    fn refused(&self, call: &'static str, error: impl Into<ConnectorError>) -> GuestError {
        // The error's text is the guest's: kept only up to a bound.
        GuestError::Connector { connector: self.name.clone(), call, error: error.into().capped() }
    }

    fn check_count(&self, call: &'static str, count: usize) -> Result<(), GuestError> {
        if count > self.max_records {
            return Err(GuestError::Limit {
                connector: self.name.clone(),
                call,
                detail: format!(
                    "it returned {count} records, more than limits.max_records_per_page ({})",
                    self.max_records
                ),
            });
        }
        Ok(())
    }

    /// How long the last call into the guest took, a failed one included.
    pub fn last_call(&self) -> Duration {
        self.last_call
    }

    /// `source-name`, checked: a name of 1 to [`MAX_SOURCE_NAME`] letters, digits,
    /// `.`, `_` or `-` (it is shown to operators and compared across versions).
    pub async fn source_name(&mut self) -> Result<String, GuestError> {
        const CALL: &str = "source-name";
        let deadline = self.arm(CALL)?;
        let name = match self.instance.as_ref().expect(STARTED) {
            Instance::V1 { source, .. } => {
                let source = source.as_ref().ok_or_else(|| self.not_exported(CALL, SOURCE))?;
                timed!(self, CALL, deadline, source.call_source_name(&mut self.store))?
            }
        };
        let well_formed = (1..=MAX_SOURCE_NAME).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !well_formed {
            return Err(GuestError::Contract {
                connector: self.name.clone(),
                call: CALL,
                detail: format!(
                    "it returned `{}` ({} bytes), which is not a source name (1 to {MAX_SOURCE_NAME} letters, digits, `.`, `_` or `-`)",
                    crate::untrusted::Shown::id(&name),
                    name.len()
                ),
            });
        }
        Ok(name)
    }

    /// `list-drafts`: one page as drafts, in one crossing; from `list-draft-columns`
    /// when the component gives its pages as columns (what ingest takes).
    pub async fn list_drafts(&mut self, req: PageRequest) -> Result<DraftPage, GuestError> {
        self.list_drafts_via(req, true).await
    }

    /// `source.list-drafts` itself, even where the component gives columns: for the
    /// check that both give the same page.
    pub async fn list_drafts_by_source(&mut self, req: PageRequest) -> Result<DraftPage, GuestError> {
        self.list_drafts_via(req, false).await
    }

    async fn list_drafts_via(&mut self, req: PageRequest, columns: bool) -> Result<DraftPage, GuestError> {
        const CALL: &str = "list-drafts";
        let deadline = self.arm(CALL)?;
        let page: DraftPage = match self.instance.as_ref().expect(STARTED) {
            // The same page, as columns: what the component offers for ingest.
            Instance::V1 { columnar: Some(columnar), .. } if columns => {
                const CALL: &str = "list-draft-columns";
                let req = req.into();
                let columns = timed!(self, CALL, deadline, columnar.call_list_draft_columns(&mut self.store, &req))?
                    .map_err(|e| self.refused(CALL, e))?;
                let connector = self.name.clone();
                super::v1::columns_to_page(columns, self.max_records, self.max_page_bytes).map_err(|e| match e {
                    ColumnsError::Misaligned(detail) => GuestError::Contract { connector, call: CALL, detail },
                    ColumnsError::Limit(detail) => GuestError::Limit { connector, call: CALL, detail },
                })?
            }
            Instance::V1 { source, .. } => {
                let req = req.into();
                let source = source.as_ref().ok_or_else(|| self.not_exported(CALL, SOURCE))?;
                timed!(self, CALL, deadline, source.call_list_drafts(&mut self.store, &req))?
                    .map_err(|e| self.refused(CALL, e))?
                    .into()
            }
        };
        self.check_count(CALL, page.drafts.len() + page.skipped.len())?;
        Ok(page)
    }

    /// `get-record`.
    pub async fn get_record(&mut self, id: &str) -> Result<SourceRecord, GuestError> {
        const CALL: &str = "get-record";
        let deadline = self.arm(CALL)?;
        match self.instance.as_ref().expect(STARTED) {
            Instance::V1 { source, .. } => {
                let source = source.as_ref().ok_or_else(|| self.not_exported(CALL, SOURCE))?;
                let record = timed!(self, CALL, deadline, source.call_get_record(&mut self.store, id))?;
                record.map(SourceRecord::from).map_err(|e| self.refused(CALL, e))
            }
        }
    }

    /// `to-envelopes`.
    pub async fn to_envelopes(&mut self, records: Vec<SourceRecord>) -> Result<Vec<Draft>, GuestError> {
        const CALL: &str = "to-envelopes";
        let deadline = self.arm(CALL)?;
        let drafts: Vec<Draft> = match self.instance.as_ref().expect(STARTED) {
            Instance::V1 { source, .. } => {
                let records: Vec<_> = records.into_iter().map(Into::into).collect();
                let source = source.as_ref().ok_or_else(|| self.not_exported(CALL, SOURCE))?;
                timed!(self, CALL, deadline, source.call_to_envelopes(&mut self.store, &records))?
                    .map_err(|e| self.refused(CALL, e))?
                    .into_iter()
                    .map(Draft::from)
                    .collect()
            }
        };
        self.check_count(CALL, drafts.len())?;
        Ok(drafts)
    }

    /// `search` of the evidence export: at most `limit` items, checked for count only
    /// (their content is checked by [`crate::evidence`]).
    pub async fn search(&mut self, query: &str, limit: u32) -> Result<Vec<Evidence>, GuestError> {
        const CALL: &str = "search";
        let deadline = self.arm(CALL)?;
        let found: Vec<Evidence> = match self.instance.as_ref().expect(STARTED) {
            Instance::V1 { evidence, .. } => {
                let evidence = evidence.as_ref().ok_or_else(|| self.not_exported(CALL, EVIDENCE))?;
                timed!(self, CALL, deadline, evidence.call_search(&mut self.store, query, limit))?
                    .map_err(|e| self.refused(CALL, e))?
                    .into_iter()
                    .map(Evidence::from)
                    .collect()
            }
        };
        if found.len() > limit as usize {
            return Err(GuestError::Contract {
                connector: self.name.clone(),
                call: CALL,
                detail: format!("it returned {} items when asked for at most {limit}", found.len()),
            });
        }
        self.check_count(CALL, found.len())?;
        Ok(found)
    }

    /// `fetch` of the evidence export.
    pub async fn fetch(&mut self, id: &str) -> Result<Option<Evidence>, GuestError> {
        const CALL: &str = "fetch";
        let deadline = self.arm(CALL)?;
        match self.instance.as_ref().expect(STARTED) {
            Instance::V1 { evidence, .. } => {
                let evidence = evidence.as_ref().ok_or_else(|| self.not_exported(CALL, EVIDENCE))?;
                let found = timed!(self, CALL, deadline, evidence.call_fetch(&mut self.store, id))?;
                found.map(|e| e.map(Evidence::from)).map_err(|e| self.refused(CALL, e))
            }
        }
    }

    fn not_exported(&self, call: &'static str, export: &'static str) -> GuestError {
        GuestError::NotExported { connector: self.name.clone(), call, export }
    }

    /// Gives the guest the state an earlier run left.
    pub fn load_state(&mut self, values: std::collections::BTreeMap<String, String>) {
        self.store.data_mut().state.load(values);
    }

    /// The host state of the sandbox (log counts, state, peak memory).
    pub fn state(&self) -> &HostState {
        self.store.data()
    }
}
