//! One record by id, through the sandbox and sealed: `host get`, and the admin API's
//! `GET /connectors/{name}/records/{id}`.

use std::sync::Arc;

use crate::egress::Egress;
use crate::envelope::{ConnectorStamp, Sealer};
use crate::manifest::Manifest;
use crate::runtime::component::LoadedComponent;
use crate::runtime::engine::Engine;
use crate::runtime::guest_error::GuestError;
use crate::runtime::sandbox::{Sandbox, StartError};

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
/// it: its envelope as one line of JSON.
///
/// The guest must keep the contract: `get-record` returns the record asked for and
/// `to-envelopes` exactly one draft of it, with that id; anything else (another
/// record, several drafts, none) is refused rather than printed. Sealing runs off
/// the async runtime, since a record may be large.
pub async fn get_sealed(
    engine: &Engine,
    component: &LoadedComponent,
    manifest: &Manifest,
    egress: Arc<Egress>,
    id: &str,
) -> Result<Vec<u8>, LookupError> {
    use crate::untrusted::Shown;
    let broken = |call, what: String| {
        LookupError::Guest(GuestError::Contract {
            connector: manifest.name.clone(),
            call,
            detail: format!("{what}; a lookup gives exactly one draft, of the record asked for"),
        })
    };
    let mut sandbox = Sandbox::start(engine, component, manifest, egress).await?;
    let record = sandbox.get_record(id).await?;
    if record.id != id {
        return Err(broken(
            "get-record",
            format!("asked for `{}`, it returned the record `{}`", Shown::id(id), Shown::id(&record.id)),
        ));
    }
    let mut drafts = sandbox.to_envelopes(vec![record]).await?;
    drop(sandbox);
    if drafts.len() != 1 {
        return Err(broken(
            "to-envelopes",
            format!("it returned {} drafts for the record `{}`", drafts.len(), Shown::id(id)),
        ));
    }
    let draft = drafts.pop().expect("one draft");
    if draft.record_id != id {
        return Err(broken(
            "to-envelopes",
            format!("it described the record `{}` as `{}`", Shown::id(id), Shown::id(&draft.record_id)),
        ));
    }
    let stamp = ConnectorStamp {
        name: manifest.name.clone(),
        digest: component.digest.clone(),
        package: component.package().to_string(),
    };
    let sealer = Sealer::new(&manifest.source, &stamp).with_max_record_bytes(manifest.limits.max_record_bytes);
    let sealed = tokio::task::spawn_blocking(move || {
        let mut sealer = sealer;
        let mut out = Vec::new();
        sealer.seal_into(&draft, &mut out).map(|_| out)
    })
    .await;
    match sealed {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(r)) => Err(LookupError::Rejected { record_id: r.record_id, reason: r.reason }),
        Err(e) => {
            Err(LookupError::Rejected { record_id: Shown::id(id).to_string(), reason: format!("sealing failed: {e}") })
        }
    }
}
