//! One sandboxed instance of a connector: a fresh store with its caps and deadline,
//! and typed calls of the connector's exports.

use wasmtime::Store;

use crate::bindings::v1;
use crate::bindings::v1::partner::connector::types::{DraftPage, EnvelopeDraft, PageRequest, SourceRecord};
use crate::capabilities::HostState;
use crate::component::LoadedComponent;
use crate::engine::Engine;
use crate::guest_error::GuestError;
use crate::manifest::Manifest;

/// A live instance of a connector, for one run.
pub struct Sandbox {
    store: Store<HostState>,
    bindings: v1::Connector,
    name: String,
    timeout_ms: u64,
    max_records: usize,
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
    ) -> Result<Sandbox, StartError> {
        let state = HostState::new(manifest)?;
        let mut store = Store::new(engine.wasmtime(), state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        let timeout_ms = manifest.limits.call_timeout_ms;
        store.set_epoch_deadline(Engine::ticks(timeout_ms));
        let bindings = component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| GuestError::from_wasmtime(&manifest.name, "instantiate", timeout_ms, e))?;
        Ok(Sandbox {
            store,
            bindings,
            name: manifest.name.clone(),
            timeout_ms,
            max_records: manifest.limits.max_records_per_page as usize,
        })
    }

    fn arm(&mut self) {
        self.store.set_epoch_deadline(Engine::ticks(self.timeout_ms));
    }

    fn fail(&self, call: &'static str, e: wasmtime::Error) -> GuestError {
        GuestError::from_wasmtime(&self.name, call, self.timeout_ms, e)
    }

    fn refused(&self, call: &'static str, error: v1::partner::connector::types::ConnectorError) -> GuestError {
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

    /// `source-name`.
    pub async fn source_name(&mut self) -> Result<String, GuestError> {
        self.arm();
        let source = self.bindings.partner_connector_source();
        source.call_source_name(&mut self.store).await.map_err(|e| self.fail("source-name", e))
    }

    /// `list-drafts`: one page as drafts, in one crossing.
    pub async fn list_drafts(&mut self, req: PageRequest) -> Result<DraftPage, GuestError> {
        const CALL: &str = "list-drafts";
        self.arm();
        let source = self.bindings.partner_connector_source();
        let page = source
            .call_list_drafts(&mut self.store, &req)
            .await
            .map_err(|e| self.fail(CALL, e))?
            .map_err(|e| self.refused(CALL, e))?;
        self.check_count(CALL, page.drafts.len() + page.skipped.len())?;
        Ok(page)
    }

    /// `get-record`.
    pub async fn get_record(&mut self, id: &str) -> Result<SourceRecord, GuestError> {
        const CALL: &str = "get-record";
        self.arm();
        let source = self.bindings.partner_connector_source();
        source
            .call_get_record(&mut self.store, id)
            .await
            .map_err(|e| self.fail(CALL, e))?
            .map_err(|e| self.refused(CALL, e))
    }

    /// `to-envelopes`.
    pub async fn to_envelopes(&mut self, records: &[SourceRecord]) -> Result<Vec<EnvelopeDraft>, GuestError> {
        const CALL: &str = "to-envelopes";
        self.arm();
        let source = self.bindings.partner_connector_source();
        let drafts = source
            .call_to_envelopes(&mut self.store, records)
            .await
            .map_err(|e| self.fail(CALL, e))?
            .map_err(|e| self.refused(CALL, e))?;
        self.check_count(CALL, drafts.len())?;
        Ok(drafts)
    }

    /// The host state of the sandbox (log counts, state, peak memory).
    pub fn state(&self) -> &HostState {
        self.store.data()
    }
}
