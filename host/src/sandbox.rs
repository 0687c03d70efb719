//! One sandboxed instance of a connector: a fresh store with its caps and deadlines,
//! and typed calls of the connector's exports.
//!
//! Deadlines are wall-clock and enforced through epoch interruption: every
//! [`SLICE_TICKS`] ticks the guest yields to the async runtime (so a guest spinning
//! in a loop cannot keep other connectors off a worker thread), and once the call's
//! deadline (or the run's, if sooner) has passed it is interrupted instead.

use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use crate::bindings::v1;
use crate::bindings::v1::partner::connector::types::{
    ConnectorError, DraftPage, EnvelopeDraft, PageRequest, SourceRecord,
};
use crate::capabilities::HostState;
use crate::component::LoadedComponent;
use crate::engine::{Engine, SLICE_TICKS};
use crate::guest_error::GuestError;
use crate::manifest::Manifest;

const STARTED: &str = "a started sandbox has an instance";

/// Calls export `$method` of the guest under the call's deadline, timing it and
/// classifying a failure as `$call`. (A macro, because the call borrows the bindings
/// and the store, two fields of the sandbox, at once.)
macro_rules! call_guest {
    ($self:ident, $call:expr, $method:ident($($arg:expr),*)) => {{
        $self.arm();
        let started = Instant::now();
        let source = $self.bindings.as_ref().expect(STARTED).partner_connector_source();
        let result = source.$method(&mut $self.store $(, $arg)*).await;
        $self.last_call = started.elapsed();
        result.map_err(|e| $self.fail($call, e))
    }};
}

/// A live instance of a connector, for one run.
pub struct Sandbox {
    store: Store<HostState>,
    bindings: Option<v1::Connector>,
    name: String,
    timeout_ms: u64,
    run_timeout_ms: u64,
    run_deadline: Instant,
    max_records: usize,
    max_page_bytes: u64,
    last_call: Duration,
}

/// The sandbox could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A granted directory could not be opened.
    #[error(transparent)]
    Grant(#[from] crate::capabilities::wasi::GrantError),
    /// Instantiating the component failed (or trapped).
    #[error(transparent)]
    Guest(#[from] GuestError),
}

impl Sandbox {
    /// Instantiates `component` in a fresh store set up from `manifest`.
    pub async fn start(
        engine: &Engine,
        component: &LoadedComponent,
        manifest: &Manifest,
        egress: std::sync::Arc<crate::egress::Egress>,
    ) -> Result<Sandbox, StartError> {
        let limits = &manifest.limits;
        let state = HostState::new(manifest, egress)?;
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
            bindings: None,
            name: manifest.name.clone(),
            timeout_ms: limits.call_timeout_ms,
            run_timeout_ms: limits.run_timeout_ms,
            run_deadline: Instant::now() + Duration::from_millis(limits.run_timeout_ms),
            max_records: limits.max_records_per_page as usize,
            max_page_bytes: limits.page_bytes(),
            last_call: Duration::ZERO,
        };
        sandbox.arm();
        let started = Instant::now();
        let instance = component.pre.instantiate_async(&mut sandbox.store).await;
        sandbox.last_call = started.elapsed();
        sandbox.bindings = Some(instance.map_err(|e| sandbox.fail("instantiate", e))?);
        Ok(sandbox)
    }

    /// Sets the deadline of the next call: its own, or the run's if that is sooner.
    fn arm(&mut self) {
        let deadline = (Instant::now() + Duration::from_millis(self.timeout_ms)).min(self.run_deadline);
        self.store.data_mut().deadline = Some(deadline);
        self.store.set_epoch_deadline(SLICE_TICKS);
    }

    fn fail(&self, call: &'static str, e: wasmtime::Error) -> GuestError {
        let run_over = Instant::now() >= self.run_deadline;
        let limit = if run_over {
            ("limits.run_timeout_ms", self.run_timeout_ms)
        } else {
            ("limits.call_timeout_ms", self.timeout_ms)
        };
        GuestError::from_wasmtime(&self.name, call, limit, self.max_page_bytes, e)
    }

    fn refused(&self, call: &'static str, error: ConnectorError) -> GuestError {
        GuestError::Connector { connector: self.name.clone(), call, error }
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

    /// `source-name`.
    pub async fn source_name(&mut self) -> Result<String, GuestError> {
        call_guest!(self, "source-name", call_source_name())
    }

    /// `list-drafts`: one page as drafts, in one crossing.
    pub async fn list_drafts(&mut self, req: PageRequest) -> Result<DraftPage, GuestError> {
        const CALL: &str = "list-drafts";
        let result = call_guest!(self, CALL, call_list_drafts(&req));
        let page = result?.map_err(|e| self.refused(CALL, e))?;
        self.check_count(CALL, page.drafts.len() + page.skipped.len())?;
        Ok(page)
    }

    /// `get-record`.
    pub async fn get_record(&mut self, id: &str) -> Result<SourceRecord, GuestError> {
        const CALL: &str = "get-record";
        let result = call_guest!(self, CALL, call_get_record(id));
        result?.map_err(|e| self.refused(CALL, e))
    }

    /// `to-envelopes`.
    pub async fn to_envelopes(&mut self, records: &[SourceRecord]) -> Result<Vec<EnvelopeDraft>, GuestError> {
        const CALL: &str = "to-envelopes";
        let result = call_guest!(self, CALL, call_to_envelopes(records));
        let drafts = result?.map_err(|e| self.refused(CALL, e))?;
        self.check_count(CALL, drafts.len())?;
        Ok(drafts)
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
