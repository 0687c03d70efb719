//! The run report: what a run fetched, published and refused, how long it took and
//! how it ended. Its JSON form follows `schemas/ingest_report.schema.json`.

use serde::Serialize;

use crate::runtime::guest_error::GuestError;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every page was read; refused records (if any) are listed in `problems`.
    Ok,
    /// The run stopped on an error; pages before it were published.
    Failed,
}

/// The report of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// How the run ended.
    pub status: RunStatus,
    /// The connector's name.
    pub connector: String,
    /// The envelopes' `source`.
    pub source: String,
    /// The component that ran.
    pub component: ComponentInfo,
    /// When the run started and ended (RFC 3339 UTC).
    pub started_at: String,
    /// When the run ended.
    pub finished_at: String,
    /// Pages read from the connector.
    pub pages: u64,
    /// Drafts the connector returned.
    pub fetched: u64,
    /// Envelopes sealed and written; with a store, those new or changed, now queued.
    pub published: u64,
    /// Drafts the host refused to seal (invalid JSON, schema violations).
    pub rejected: u64,
    /// Items the connector could not read as records (a malformed line).
    pub skipped: u64,
    /// With a store: sealed records whose hash had not changed (not published again).
    pub skipped_unchanged: u64,
    /// With a store: records changed in the store whose new version was queued
    /// before, so not queued again (a record back to an earlier version).
    pub deduplicated: u64,
    /// With a store: refused drafts kept as dead letters.
    pub dead_lettered: u64,
    /// Drafts not written because their record id repeats in the run: one envelope
    /// per record id per run (within a page the later item is kept, across pages the
    /// earlier page's); each is listed in `problems` as `skipped`.
    pub repeated: u64,
    /// The store the run wrote to, if any.
    pub store: Option<String>,
    /// The cursor to resume from (`--cursor`): the one after the last page written
    /// whole (committed, with a store); absent when the source was read to its end.
    pub next_cursor: Option<String>,
    /// Where the time went, in milliseconds.
    pub durations_ms: Durations,
    /// Skipped and rejected records, the first [`MAX_PROBLEMS`] of them.
    pub problems: Vec<Problem>,
    /// Lines the guest logged, and lines dropped by the rate limit.
    pub guest_log: GuestLog,
    /// What the connector's HTTP requests did: sent, retried, denied, waited.
    pub http: crate::egress::HttpStats,
    /// How long each `list-drafts` call took, in milliseconds (for metrics; not in
    /// the JSON report).
    #[serde(skip)]
    pub call_ms: Vec<f64>,
    /// The largest linear memory the guest reached, in bytes.
    pub peak_guest_memory_bytes: u64,
    /// Why the run failed, when it did.
    pub error: Option<RunError>,
}

/// The most problems a report lists; the counts still count them all.
pub const MAX_PROBLEMS: usize = 100;

/// The component that ran.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentInfo {
    /// Its file.
    pub path: String,
    /// SHA-256 of its bytes.
    pub digest: String,
    /// The WIT package it targets.
    pub package: String,
    /// Whether its compiled code came from the cache (`hit`, `miss`, `off`).
    pub cache: crate::runtime::engine::cache::CacheOutcome,
}

/// Where the time of a run went, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Durations {
    /// The whole run.
    pub total: f64,
    /// Compiling or loading the component.
    pub load: f64,
    /// Inside the guest (instantiation and calls).
    pub guest: f64,
    /// Sealing and validating envelopes.
    pub seal: f64,
    /// Writing envelopes.
    pub write: f64,
    /// Committing pages to the store.
    pub commit: f64,
}

/// A record that was not published.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// What happened to the record.
    pub kind: ProblemKind,
    /// Where it is: a locator from the connector, or the record id.
    #[serde(rename = "where")]
    pub location: String,
    /// Why.
    pub reason: String,
}

/// What happened to a record listed as a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The connector could not read it, or its record id repeats in the run.
    Skipped,
    /// The host refused its draft.
    Rejected,
}

/// Guest log counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GuestLog {
    /// Lines written to the host's log.
    pub lines: u64,
    /// Lines dropped by the rate limit.
    pub dropped: u64,
}

/// What kind of failure ended a run (serialised `connector_error`, `limit_exceeded`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connector returned a `connector-error`, or broke the contract.
    ConnectorError,
    /// The connector hit a limit of the sandbox or a deadline.
    LimitExceeded,
    /// The connector trapped.
    Trap,
    /// A granted directory could not be opened.
    Grant,
    /// The store failed.
    Store,
    /// The envelopes could not be written.
    Output,
    /// The reader closed the pipe (`host run x.wasm | head`): not a failure of the host.
    OutputClosed,
    /// The run's lease was taken over by another host: its page was refused.
    Fenced,
}

impl FailureKind {
    /// The kind of a failed guest call.
    pub fn of(e: &GuestError) -> FailureKind {
        match e {
            GuestError::Connector { .. } | GuestError::Contract { .. } | GuestError::NotExported { .. } => {
                FailureKind::ConnectorError
            }
            GuestError::Deadline { .. } | GuestError::Limit { .. } => FailureKind::LimitExceeded,
            GuestError::Trap { .. } => FailureKind::Trap,
        }
    }

    /// The kind as the report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ConnectorError => "connector_error",
            FailureKind::LimitExceeded => "limit_exceeded",
            FailureKind::Trap => "trap",
            FailureKind::Grant => "grant",
            FailureKind::Store => "store",
            FailureKind::Output => "output",
            FailureKind::OutputClosed => "output_closed",
            FailureKind::Fenced => "fenced",
        }
    }

    /// The exit code of `host run` (and `host get`) when a run ends with this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::ConnectorError => 4,
            FailureKind::LimitExceeded => 5,
            FailureKind::Trap => 6,
            FailureKind::Grant => 3,
            FailureKind::Store | FailureKind::Fenced => 8,
            FailureKind::Output | FailureKind::OutputClosed => 1,
        }
    }
}

/// Why a run failed.
#[derive(Clone, Debug, Serialize)]
pub struct RunError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The full message.
    pub message: String,
    /// How long the failed guest call ran before it ended, in milliseconds.
    pub call_ms: Option<f64>,
    /// For a `connector_error`, which case of the WIT `connector-error` it was
    /// (`auth`, `rate-limited`, …): an `auth` failure revokes the connector.
    pub case: Option<crate::contract::ErrorCase>,
    /// The host ran out of a resource (open files, memory, disk): the operator's
    /// to fix, not the connector's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resource_exhausted: bool,
}

impl RunError {
    /// A failure of `kind` that was not a guest call's.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> RunError {
        RunError { kind, message: message.into(), call_ms: None, case: None, resource_exhausted: false }
    }

    /// A failure of `kind` caused by `cause`, marked when that is the host running
    /// out of a resource.
    pub fn caused(
        kind: FailureKind,
        message: impl Into<String>,
        cause: &(dyn std::error::Error + 'static),
    ) -> RunError {
        RunError { resource_exhausted: exhausts(cause), ..RunError::new(kind, message) }
    }

    /// A guest call's failure, which ran for `call_ms`.
    pub fn guest(e: &GuestError, call_ms: Option<f64>) -> RunError {
        RunError {
            kind: FailureKind::of(e),
            message: e.to_string(),
            call_ms,
            case: e.case(),
            resource_exhausted: false,
        }
    }
}

/// Whether `e`, or an error under it, is the operating system saying the process
/// ran out of a resource: open files (EMFILE, ENFILE), memory (ENOMEM), disk (ENOSPC).
pub fn exhausts(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOSPC))
        {
            return true;
        }
        next = e.source();
    }
    false
}

impl RunReport {
    /// One line for a person: how it ended and the counts.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} — {} published, {} rejected, {} skipped of {} fetched in {} page{} ({:.0} ms)",
            self.connector,
            match self.status {
                RunStatus::Ok => "ok",
                RunStatus::Failed => "failed",
            },
            self.published,
            self.rejected,
            self.skipped,
            self.fetched,
            self.pages,
            if self.pages == 1 { "" } else { "s" },
            self.durations_ms.total,
        );
        if self.repeated > 0 {
            s.push_str(&format!("; {} repeated record ids not written again", self.repeated));
        }
        if self.store.is_some() {
            s.push_str(&format!(
                "; {} unchanged, {} dead-lettered, {} deduplicated",
                self.skipped_unchanged, self.dead_lettered, self.deduplicated
            ));
        }
        if let Some(c) = &self.next_cursor {
            // The cursor is the guest's text, and an operator may paste the hint into
            // a shell: it is shown only when it is short and printable, and quoted.
            if self.store.is_some() {
                s.push_str("; the store keeps the cursor: run again to resume");
            } else if crate::untrusted::is_pastable(c) {
                s.push_str(&format!("; resume with --cursor {}", crate::untrusted::shell_quote(c)));
            } else {
                s.push_str(&format!(
                    "; resume with the report's next_cursor ({} bytes, not shown: it is long or holds control characters)",
                    c.len()
                ));
            }
        }
        s
    }
}
