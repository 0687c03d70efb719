//! A run: pages from the guest, sealed into envelopes, written to a sink or the store.
//!
//! Ingest crosses the sandbox boundary once per page (`list-drafts`), and the guest
//! and the host work side by side: while the sealer thread seals and writes page
//! *n*, the guest is already producing page *n + 1* on the async runtime. A page is
//! written whole or not at all; a call that fails emits nothing of its page, and the
//! report's `next_cursor` is where a later run resumes.
//!
//! Where a page goes, one file a step: [`run`] is the loop that asks the guest for
//! pages (its cursors watched by `cursor_watch`); `pipeline` seals each page
//! (`repeats` keeps one envelope per record id) and writes it, or hands it to the
//! committer, which commits it to the store; `events` says what the run's end means
//! for the connector's lifecycle. A display of progress is the caller's, behind
//! [`RunOptions::progress`].

mod cursor_watch;
mod events;
mod pipeline;
mod repeats;
mod run;

use std::sync::Arc;
use std::time::Duration;

use crate::sink::JsonlSink;
use crate::store::Store;

pub use run::{run, run_into};

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Records per page to ask for (default: the manifest's `limits.page_size`).
    pub page_size: Option<u32>,
    /// Where to start (a `next_cursor` of an earlier run).
    pub cursor: Option<String>,
    /// Stop after this many pages.
    pub max_pages: Option<u64>,
    /// Told what the run has done so far, every 200 ms or so while it runs (from the
    /// sealer thread): a progress display.
    pub progress: Option<Progress>,
    /// The connector's HTTP egress (shared across runs, so breakers and rate limits
    /// carry over); a fresh, live one from the manifest when unset.
    pub egress: Option<std::sync::Arc<crate::egress::Egress>>,
    /// When set (by a shutdown), the run stops before its next page; the pages
    /// before it are committed and `next_cursor` says where to resume.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What started the run (it says how a failed connector came back).
    pub trigger: crate::lifecycle::Trigger,
    /// The lease a run of `host serve` on a shared store holds: each page commit
    /// checks it, and the run stops when it is lost (see `store::leases`).
    pub lease: Option<Lease>,
}

/// A run's lease: its fence, and the flag its holder sets when it is lost.
#[derive(Clone, Debug)]
pub struct Lease {
    /// Checked by every page commit.
    pub fence: crate::store::Fence,
    /// Set when the lease is lost: the run stops before its next page.
    pub lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A callback told how far a run is.
pub type Progress = Arc<dyn Fn(&Tally) + Send + Sync>;

/// How far a run is.
#[derive(Clone, Copy, Debug)]
pub struct Tally {
    /// Records the guest returned so far.
    pub records: u64,
    /// Pages so far.
    pub pages: u64,
    /// Since the first page reached the sealer.
    pub elapsed: Duration,
}

/// Where a run's envelopes go: JSON Lines, the store, or both.
pub struct Output {
    /// Envelopes as JSON Lines: every sealed one without a store; with one, only
    /// those new or changed in it (what the queue publishes), unless `jsonl_all`.
    pub jsonl: Option<JsonlSink>,
    /// The store: changed envelopes upserted and queued, cursor and state kept.
    pub store: Option<Store>,
    /// With a store, write every sealed envelope to `jsonl`, unchanged ones too.
    pub jsonl_all: bool,
}
