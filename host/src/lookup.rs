//! One record by id, through the sandbox and sealed: `host get`, and the admin API's
//! `GET /connectors/{name}/records/{id}`.

use std::sync::Arc;

use crate::component::LoadedComponent;
use crate::egress::Egress;
use crate::engine::Engine;
use crate::envelope::{ConnectorStamp, Sealer};
use crate::guest_error::GuestError;
use crate::manifest::Manifest;
use crate::sandbox::{Sandbox, StartError};

/// Why a record could not be fetched and sealed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The sandbox could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The guest failed (`get-record` or `to-envelopes`).
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The host refused to seal what the guest returned.
    #[error("record `{record_id}` cannot be sealed: {reason}")]
    Rejected {
        /// The record.
        record_id: String,
        /// Why.
        reason: String,
    },
}

/// Fetches record `id` with `get-record`, describes it with `to-envelopes` and seals
/// it: the envelopes as JSON Lines.
pub async fn get_sealed(
    engine: &Engine,
    component: &LoadedComponent,
    manifest: &Manifest,
    egress: Arc<Egress>,
    id: &str,
) -> Result<Vec<u8>, LookupError> {
    let mut sandbox = Sandbox::start(engine, component, manifest, egress).await?;
    let record = sandbox.get_record(id).await?;
    let drafts = sandbox.to_envelopes(std::slice::from_ref(&record)).await?;
    let stamp = ConnectorStamp {
        name: manifest.name.clone(),
        digest: component.digest.clone(),
        package: component.package().to_string(),
    };
    let mut sealer = Sealer::new(&manifest.source, &stamp);
    let mut out = Vec::new();
    for draft in &drafts {
        sealer
            .seal_into(draft, &mut out)
            .map_err(|r| LookupError::Rejected { record_id: r.record_id.clone(), reason: r.reason.to_string() })?;
    }
    Ok(out)
}
