//! The run loop: pages from the guest, sealed into envelopes, written to a sink.
//!
//! Ingest crosses the sandbox boundary once per page (`list-drafts`), and the guest
//! and the host work side by side: while the sealer thread seals and writes page
//! *n*, the guest is already producing page *n + 1* on the async runtime. A page is
//! written whole or not at all; a call that fails emits nothing of its page, and the
//! report's `next_cursor` is where a later run resumes.

mod repeats;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::contract::{Draft, DraftPage, ErrorCase, PageRequest, Skipped};
use crate::envelope::seal::now_rfc3339;
use crate::envelope::{ConnectorStamp, Sealer};
use crate::lifecycle::Event;
use crate::manifest::Manifest;
use crate::report::{
    ComponentInfo, Durations, FailureKind, GuestLog, MAX_PROBLEMS, Problem, ProblemKind, RunError, RunReport, RunStatus,
};
use crate::runtime::component::LoadedComponent;
use crate::runtime::engine::Engine;
use crate::runtime::sandbox::{Sandbox, StartError};
use crate::sink::JsonlSink;
use crate::store::{DeadLetter, PageCommit, SealedRecord, Store};
use crate::untrusted::{MAX_QUOTE, MAX_TEXT, Sampler, Shown, capped};

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Records per page to ask for (default: the manifest's `limits.page_size`).
    pub page_size: Option<u32>,
    /// Where to start (a `next_cursor` of an earlier run).
    pub cursor: Option<String>,
    /// Stop after this many pages.
    pub max_pages: Option<u64>,
    /// Show progress on stderr (when it is a terminal).
    pub progress: bool,
    /// The connector's HTTP egress (shared across runs, so breakers and rate limits
    /// carry over); a fresh, live one from the manifest when unset.
    pub egress: Option<std::sync::Arc<crate::egress::Egress>>,
    /// When set (by a shutdown), the run stops before its next page; the pages
    /// before it are committed and `next_cursor` says where to resume.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What started the run (it says how a failed connector came back).
    pub trigger: crate::lifecycle::Trigger,
}

impl RunOptions {
    /// Progress on when stderr is a terminal.
    pub fn with_progress_if_terminal(mut self) -> RunOptions {
        self.progress = std::io::stderr().is_terminal();
        self
    }
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

struct PageMsg {
    drafts: Vec<Draft>,
    skipped: Vec<Skipped>,
    collected_at: String,
    /// The cursor this page started at (it identifies the page's delivery).
    cursor: Option<String>,
    /// The cursor after this page, and the guest's state after it: committed with it.
    next_cursor: Option<String>,
    state: std::collections::BTreeMap<String, String>,
}

#[derive(Default)]
struct SealStats {
    published: u64,
    rejected: u64,
    skipped: u64,
    unchanged: u64,
    deduplicated: u64,
    dead_lettered: u64,
    /// Drafts not kept because their record id repeats in the run ([`repeats`]).
    repeated: u64,
    problems: Vec<Problem>,
    seal: Duration,
    write: Duration,
    commit: Duration,
    /// Why writing or committing stopped, as the run's error.
    write_error: Option<RunError>,
    /// The cursor after the last page written whole (or committed, with a store):
    /// where a later run resumes. `None` until a page is.
    resume: Option<Option<String>>,
    /// The log lines of refused and skipped records: the first few, then a count.
    rejected_lines: Sampler,
    skipped_lines: Sampler,
    repeated_lines: Sampler,
}

/// Runs `component` once under `manifest`, writing envelopes to `sink`, and reports.
/// The run never panics on guest behaviour: every failure ends up in the report.
pub async fn run(
    engine: &Engine,
    component: &LoadedComponent,
    manifest: &Manifest,
    options: &RunOptions,
    sink: JsonlSink,
) -> RunReport {
    run_into(engine, component, manifest, options, Output { jsonl: Some(sink), store: None, jsonl_all: true }).await
}

/// Runs `component` once under `manifest` into `output`, and reports. With a store,
/// the run starts from the stored cursor (unless `options.cursor` says otherwise)
/// and commits each page, its cursor and the guest's state in one transaction.
pub async fn run_into(
    engine: &Engine,
    component: &LoadedComponent,
    manifest: &Manifest,
    options: &RunOptions,
    output: Output,
) -> RunReport {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let stamp = ConnectorStamp {
        name: manifest.name.clone(),
        digest: component.digest.clone(),
        package: component.package().to_string(),
    };
    let mut error = None;
    let mut cursor = options.cursor.clone();
    let limits = &manifest.limits;
    let mut stored_state = Default::default();
    if let Some(store) = &output.store {
        let loaded = async {
            if cursor.is_none() {
                cursor = store.cursor(&manifest.name).await?;
            }
            stored_state = store.state(&manifest.name).await?;
            Ok::<_, crate::store::StoreError>(())
        };
        if let Err(e) = loaded.await {
            error = Some(RunError::new(FailureKind::Store, e.to_string()));
        }
    }
    // Where the run starts: where it resumes if no page gets written.
    let start_cursor = cursor.clone();
    // A run that fails on its first page from the stored cursor may be pinned by it.
    let from_stored = options.cursor.is_none() && cursor.is_some();
    let store = output.store.clone();
    let (tx, rx) = mpsc::channel::<PageMsg>(2);
    let sealer = Sealer::new(&manifest.source, &stamp).with_max_record_bytes(limits.max_record_bytes);
    let progress = options.progress;
    let target = Target {
        jsonl: output.jsonl,
        jsonl_all: output.jsonl_all,
        store: output.store,
        connector: manifest.name.clone(),
        source: manifest.source.clone(),
        digest: component.digest.clone(),
        package: component.package(),
        runtime: tokio::runtime::Handle::current(),
    };
    let max_record_bytes = limits.max_record_bytes;
    let sealer_thread = std::thread::Builder::new()
        .name("sealer".into())
        .spawn(move || seal_pages(sealer, target, rx, progress, max_record_bytes))
        .expect("spawning the sealer thread");

    let mut guest_time = Duration::ZERO;
    let mut pages = 0u64;
    let mut fetched = 0u64;
    let mut log_counts = (0, 0);
    let mut http = crate::egress::HttpStats::default();
    let mut call_ms = Vec::new();
    let mut peak_memory = 0;
    let page_size = options.page_size.unwrap_or(manifest.limits.page_size);

    let t = Instant::now();
    let sandbox = match error {
        Some(_) => None,
        None => {
            let egress = options.egress.clone().unwrap_or_else(|| crate::egress::Egress::new(manifest));
            Some(Sandbox::start(engine, component, manifest, egress).await)
        }
    };
    guest_time += t.elapsed();
    match sandbox {
        None => {}
        Some(Err(StartError::Grant(e))) => error = Some(RunError::new(FailureKind::Grant, e.to_string())),
        Some(Err(StartError::Guest(e))) => error = Some(RunError::guest(&e, None)),
        Some(Ok(mut sandbox)) => {
            sandbox.load_state(std::mem::take(&mut stored_state));
            // The contract's promise: the host checks the source name, once a run.
            let t = Instant::now();
            if let Err(e) = sandbox.source_name().await {
                error = Some(RunError::guest(&e, Some(ms(sandbox.last_call()))));
            }
            guest_time += t.elapsed();
            let mut cursors = CursorWatch::new(&manifest.name, limits, cursor.as_deref());
            loop {
                if error.is_some() {
                    break;
                }
                if options.max_pages.is_some_and(|max| pages >= max) {
                    break;
                }
                if options.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
                    tracing::info!(connector = %manifest.name, "stopping before the next page (shutdown)");
                    break;
                }
                let t = Instant::now();
                let req = PageRequest { cursor: cursor.clone(), limit: Some(page_size) };
                crate::store::crash::point("guest-call");
                let result = sandbox.list_drafts(req).await;
                guest_time += t.elapsed();
                call_ms.push(ms(sandbox.last_call()));
                let page = match result {
                    Ok(page) => page,
                    Err(e) => {
                        let call_ms = Some(ms(sandbox.last_call()));
                        let mut failed = RunError::guest(&e, call_ms);
                        if pages == 0
                            && from_stored
                            && let Some(c) = &cursor
                        {
                            failed.message.push_str(&reset_hint(&manifest.name, c, &e));
                        }
                        error = Some(failed);
                        break;
                    }
                };
                crate::store::crash::point("guest-returned");
                pages += 1;
                fetched += page.drafts.len() as u64;
                // A page whose cursor would loop is not written: the cursor stored
                // stays the one it started at.
                if let Err(e) = cursors.check(&page, cursor.as_deref()) {
                    error = Some(e);
                    break;
                }
                let msg = PageMsg {
                    drafts: page.drafts,
                    skipped: page.skipped,
                    collected_at: now_rfc3339(),
                    cursor: cursor.clone(),
                    next_cursor: page.next_cursor.clone(),
                    // Only a store keeps state; a JSONL run need not copy it every page.
                    state: if store.is_some() { sandbox.state().state.values().clone() } else { Default::default() },
                };
                // The sealer may hold the page back (a slow sink): that time counts
                // against the run's deadline too.
                match tokio::time::timeout_at(sandbox.run_deadline().into(), tx.send(msg)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break, // the sealer stopped: the sink failed; it reports why
                    Err(_) => {
                        error = Some(RunError::new(
                            FailureKind::LimitExceeded,
                            format!(
                                "connector `{}`: the run ran past its deadline of {} ms (limits.run_timeout_ms) while its pages were written, and was stopped",
                                manifest.name, limits.run_timeout_ms
                            ),
                        ));
                        break;
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let state = sandbox.state();
            log_counts = state.log.counts();
            http = state.http.stats.clone();
            peak_memory = state.limits.peak_memory as u64;
        }
    }
    drop(tx);
    // Wait for the sealer without blocking a worker of the runtime: a daemon runs
    // many connectors on a few workers, and the sealer's store commits need them.
    let joined = tokio::task::spawn_blocking(move || sealer_thread.join()).await;
    let mut stats = joined.ok().and_then(Result::ok).unwrap_or_else(|| SealStats {
        write_error: Some(RunError::new(FailureKind::Output, "the sealer thread panicked")),
        ..SealStats::default()
    });
    if error.is_none() {
        error = stats.write_error.take();
    }
    for (sampler, what) in
        [(&stats.rejected_lines, "rejected"), (&stats.skipped_lines, "skipped"), (&stats.repeated_lines, "repeated")]
    {
        if sampler.suppressed() > 0 {
            tracing::warn!(connector = %manifest.name, "{} more {what} records were not logged; the report counts all {}",
                sampler.suppressed(), sampler.seen());
        }
    }
    // The report tells where a later run resumes: after the last page written whole
    // (committed, with a store), never past it, whatever the loop had read.
    let next_cursor = stats.resume.take().unwrap_or(start_cursor);

    let report = RunReport {
        status: if error.is_some() { RunStatus::Failed } else { RunStatus::Ok },
        connector: manifest.name.clone(),
        source: manifest.source.clone(),
        component: ComponentInfo {
            path: component.path.display().to_string(),
            digest: component.digest.clone(),
            package: component.package().to_string(),
            cache: component.cache,
        },
        started_at,
        finished_at: now_rfc3339(),
        pages,
        fetched,
        published: stats.published,
        rejected: stats.rejected,
        skipped: stats.skipped,
        skipped_unchanged: stats.unchanged,
        deduplicated: stats.deduplicated,
        dead_lettered: stats.dead_lettered,
        repeated: stats.repeated,
        store: store.as_ref().map(|s| s.url().to_string()),
        next_cursor,
        durations_ms: Durations {
            total: ms(started.elapsed()),
            load: ms(component.load_time),
            guest: ms(guest_time),
            seal: ms(stats.seal),
            write: ms(stats.write),
            commit: ms(stats.commit),
        },
        problems: stats.problems,
        guest_log: GuestLog { lines: log_counts.0, dropped: log_counts.1 },
        http,
        call_ms,
        peak_guest_memory_bytes: peak_memory,
        error,
    };
    if let Some(store) = &store {
        let json = serde_json::to_string(&report).expect("a report serialises");
        let json = crate::secrets::redact(&json);
        let status = if report.error.is_some() { "failed" } else { "ok" };
        let kept = async {
            store.record_run(&report.connector, status, &report.started_at, &report.finished_at, &json).await?;
            store.record_events(&run_events(store, manifest, &report, options).await?).await
        };
        if let Err(e) = kept.await {
            tracing::warn!("cannot keep the run report and its lifecycle events in the store: {e}");
        }
    }
    report
}

/// The connector lifecycle events of a finished run: provisioned (the first time the
/// store sees the connector), then what the run's end means for the connector's
/// state ([`after_run`]), and a rejected ingest when the run failed.
///
/// [`after_run`]: crate::lifecycle::after_run
async fn run_events(
    store: &Store,
    manifest: &Manifest,
    report: &RunReport,
    options: &RunOptions,
) -> Result<Vec<Event>, crate::store::StoreError> {
    use crate::lifecycle::*;
    let name = &manifest.name;
    let at = &report.finished_at;
    let delivery = format!("run:{name}:{}", report.started_at);
    let mut events = Vec::new();
    // Only the connector family decides its state: not the sync event of every page.
    let previous = store.connector_events(name).await?;
    if !previous.iter().any(|e| e.event_type == CONNECTOR_PROVISIONED) {
        let config = serde_json::to_string(&*manifest.config).expect("config serialises");
        let provisioned = EventKind::ConnectorProvisioned {
            connector_type: manifest.source.clone(),
            provider: "wasm",
            credentials_ref: "none",
            config_hash: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(config.as_bytes())),
            component_digest: report.component.digest.clone(),
        };
        events.push(provisioned.event(name, format!("provision:{name}"), &report.started_at));
    }
    let reduced = reduce(name, &previous);
    // Before this run's Provisioned is stored, the connector is as good as provisioned.
    let current = reduced.current_state.or(Some(ConnectorState::Provisioned));
    let last_healthy_at = reduced.last_health_check.as_ref().map(|(at, _)| at.as_str());
    let end = match &report.error {
        None => RunEnd::Healthy { latency_ms: report.durations_ms.total },
        // The reader closed the output: nothing was wrong with the connector.
        Some(e) if e.kind == FailureKind::OutputClosed => return Ok(events),
        Some(e) if e.case == Some(ErrorCase::Auth) => RunEnd::Refused { reason: &e.message },
        Some(e) => RunEnd::Failed { reason: &e.message, last_healthy_at },
    };
    for kind in after_run(current, end, options.trigger) {
        events.push(kind.event(name, delivery.clone(), at));
    }
    if let Some(e) = &report.error {
        let rejected = EventKind::SyncIngestRejected {
            rejection_reason: e.message.clone(),
            rejected_payload_ref: report.next_cursor.clone(),
        };
        events.push(rejected.event(name, delivery, at));
    }
    Ok(events)
}

/// Where the sealer thread puts each page.
struct Target {
    jsonl: Option<JsonlSink>,
    jsonl_all: bool,
    store: Option<Store>,
    connector: String,
    source: String,
    digest: String,
    package: &'static str,
    runtime: tokio::runtime::Handle,
}

/// Per sealed draft: where its record id is in the page's `ids`, where its envelope
/// line starts in the page's `buf`, and its `raw_sha256`.
type Sealed = (std::ops::Range<usize>, usize, [u8; 64]);

/// A sealed page on its way to the store. It carries copies of its record ids
/// rather than the drafts, so that the sealer, not the committer (the slower of
/// the two), frees the drafts.
struct SealedPage {
    ids: String,
    sealed: Vec<Sealed>,
    /// The sealed envelopes as JSON Lines.
    buf: Vec<u8>,
    dead_letters: Vec<DeadLetter>,
    cursor: Option<String>,
    next_cursor: Option<String>,
    state: std::collections::BTreeMap<String, String>,
    collected_at: String,
}

/// The sealer thread: seals each page and writes it whole. With a store, a
/// committer thread commits page *n* with its cursor and state while this thread
/// seals page *n + 1* (pages are committed one at a time, in order, so a crash
/// still leaves the store at a page boundary with the cursor of that page).
fn seal_pages(
    mut sealer: Sealer,
    target: Target,
    mut rx: mpsc::Receiver<PageMsg>,
    progress: bool,
    max_record_bytes: usize,
) -> SealStats {
    let Target { mut jsonl, jsonl_all, store, connector, source, digest, package, runtime } = target;
    let connector_name = connector.clone();
    let committer = store.map(|store| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<SealedPage>(1);
        let sink = jsonl.take().map(|sink| (sink, jsonl_all));
        let names = Names { connector, source, digest, package };
        let thread = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || commit_pages(store, sink, names, runtime, rx))
            .expect("spawning the committer thread");
        (tx, thread)
    });
    let mut stats = SealStats::default();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut sealed: Vec<Sealed> = Vec::new();
    let mut ids = String::new();
    let mut run_ids = repeats::RunIds::default();
    let started = Instant::now();
    let mut shown = Instant::now();
    let (mut pages, mut records) = (0u64, 0u64);
    while let Some(page) = rx.blocking_recv() {
        let t = Instant::now();
        sealer.set_collected_at(page.collected_at.clone());
        buf.clear();
        sealed.clear();
        ids.clear();
        let mut dead_letters = Vec::new();
        for skipped in page.skipped {
            stats.skipped += 1;
            if stats.skipped_lines.allow() {
                tracing::warn!(location = %Shown::id(&skipped.locator), "connector skipped a record: {}",
                    Shown::text(&skipped.reason));
            }
            if stats.problems.len() < MAX_PROBLEMS {
                stats.problems.push(Problem {
                    kind: ProblemKind::Skipped,
                    location: capped(&skipped.locator, MAX_QUOTE),
                    reason: capped(&skipped.reason, MAX_TEXT),
                });
            }
        }
        let half = page.drafts.len() / 2;
        let repeats = run_ids.choose(page.drafts.iter().map(|d| d.record_id.as_str()));
        for (i, (draft, repeat)) in page.drafts.iter().zip(repeats).enumerate() {
            if i == half && i > 0 {
                crate::store::crash::point("sealing");
            }
            if let Some(repeat) = repeat {
                stats.repeated += 1;
                if stats.repeated_lines.allow() {
                    tracing::warn!(record_id = %Shown::id(&draft.record_id),
                        "skipped a draft whose record id repeats in the run: {}", repeat.kept());
                }
                if stats.problems.len() < MAX_PROBLEMS {
                    let id = capped(&draft.record_id, MAX_QUOTE);
                    stats.problems.push(Problem {
                        kind: ProblemKind::Skipped,
                        reason: repeat.reason(&id),
                        location: id,
                    });
                }
                continue;
            }
            let start = buf.len();
            match sealer.seal_into(draft, &mut buf) {
                Ok(hash) => {
                    if run_ids.written(&draft.record_id) {
                        tracing::warn!(connector = %connector_name, "this run wrote {} record ids: a repeat of a later one \
                            on a later page is no longer recognised (within a page it still is)", repeats::MAX_IDS);
                    }
                    let id = ids.len();
                    if committer.is_some() {
                        ids.push_str(&draft.record_id);
                    }
                    sealed.push((id..ids.len(), start, hash));
                }
                Err(r) => {
                    stats.rejected += 1;
                    if stats.rejected_lines.allow() {
                        tracing::warn!(record_id = %Shown::id(&r.record_id), "rejected a record: {}",
                            Shown::text(&r.reason));
                    }
                    if committer.is_some() {
                        dead_letters.push(DeadLetter {
                            record_id: r.record_id.clone(),
                            reason: capped(&r.reason, MAX_TEXT),
                            draft: crate::envelope::seal::draft_to_json(draft, max_record_bytes),
                        });
                    }
                    if stats.problems.len() < MAX_PROBLEMS {
                        stats.problems.push(Problem {
                            kind: ProblemKind::Rejected,
                            location: r.record_id,
                            reason: capped(&r.reason, MAX_TEXT),
                        });
                    }
                }
            }
        }
        stats.seal += t.elapsed();
        records += page.drafts.len() as u64;

        if let Some((to_committer, _)) = &committer {
            // The page takes its buffers along; the next starts with fresh ones as big.
            let capacities = (ids.capacity(), sealed.capacity(), buf.capacity());
            let page = SealedPage {
                ids: std::mem::replace(&mut ids, String::with_capacity(capacities.0)),
                sealed: std::mem::replace(&mut sealed, Vec::with_capacity(capacities.1)),
                buf: std::mem::replace(&mut buf, Vec::with_capacity(capacities.2)),
                dead_letters,
                cursor: page.cursor,
                next_cursor: page.next_cursor,
                state: page.state,
                collected_at: page.collected_at,
            };
            if to_committer.send(page).is_err() {
                break; // the committer stopped: the store failed; it reports why
            }
        } else {
            let t = Instant::now();
            if let Some(sink) = &mut jsonl
                && let Err(e) = sink.write_page(&buf)
            {
                stats.write_error = Some(write_failure(e));
                break;
            }
            // Counted once written: a page is out whole, or not at all.
            stats.published += sealed.len() as u64;
            stats.resume = Some(page.next_cursor);
            stats.write += t.elapsed();
        }
        pages += 1;
        if progress && shown.elapsed() > Duration::from_millis(200) {
            shown = Instant::now();
            let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprint!("\r\x1b[2K  {records} records, {pages} pages, {rate:.0} records/s");
        }
    }
    if let Some((to_committer, thread)) = committer {
        drop(to_committer);
        let committed = thread.join().unwrap_or_else(|_| SealStats {
            write_error: Some(RunError::new(FailureKind::Output, "the committer thread panicked")),
            ..SealStats::default()
        });
        stats.published += committed.published;
        stats.unchanged += committed.unchanged;
        stats.deduplicated += committed.deduplicated;
        stats.dead_lettered += committed.dead_lettered;
        stats.commit += committed.commit;
        stats.write += committed.write;
        stats.resume = committed.resume;
        stats.write_error = stats.write_error.or(committed.write_error);
    }
    if progress && pages > 0 {
        eprint!("\r\x1b[2K");
    }
    stats
}

/// The names a committed page carries.
struct Names {
    connector: String,
    source: String,
    digest: String,
    package: &'static str,
}

/// The committer thread: commits each sealed page, in order, in one transaction with
/// its cursor and state; then, with `--out` as well, writes as JSON Lines the
/// envelopes the commit found new or changed (or every one, with `--out-all`).
fn commit_pages(
    store: Store,
    mut jsonl: Option<(JsonlSink, bool)>,
    names: Names,
    runtime: tokio::runtime::Handle,
    rx: std::sync::mpsc::Receiver<SealedPage>,
) -> SealStats {
    let mut stats = SealStats::default();
    let mut changed_lines = Vec::new();
    for page in rx {
        let line = |n: usize| {
            let end = page.sealed.get(n + 1).map_or(page.buf.len(), |next| next.1);
            page.sealed[n].1..end
        };
        let records = page
            .sealed
            .iter()
            .enumerate()
            .map(|(n, (id, _, hash))| SealedRecord {
                record_id: &page.ids[id.clone()],
                raw_sha256: std::str::from_utf8(hash).expect("hex is ASCII"),
                // The line without its newline.
                envelope: &page.buf[line(n).start..line(n).end - 1],
            })
            .collect();
        let commit = PageCommit {
            connector: &names.connector,
            source: &names.source,
            digest: &names.digest,
            package: names.package,
            records,
            dead_letters: page.dead_letters,
            cursor: page.next_cursor.as_deref(),
            save_cursor: true,
            delivery_id: format!("page:{}:{}", names.connector, page.cursor.as_deref().unwrap_or("start")),
            state: &page.state,
            now: &page.collected_at,
        };
        let changed = match runtime.block_on(store.commit_page(commit)) {
            Ok(committed) => {
                let outcome = committed.outcome;
                stats.published += outcome.published;
                stats.unchanged += outcome.unchanged;
                stats.deduplicated += outcome.deduplicated;
                stats.dead_lettered += outcome.dead_lettered;
                stats.commit += committed.took;
                stats.resume = Some(page.next_cursor.clone());
                committed.changed
            }
            Err(e) => {
                stats.write_error = Some(RunError::new(FailureKind::Store, e.to_string()));
                break;
            }
        };
        let t = Instant::now();
        if let Some((sink, all)) = &mut jsonl {
            let lines = if *all {
                &page.buf[..]
            } else {
                changed_lines.clear();
                for &n in &changed {
                    changed_lines.extend_from_slice(&page.buf[line(n)]);
                }
                &changed_lines[..]
            };
            if let Err(e) = sink.write_page(lines) {
                stats.write_error = Some(write_failure(e));
                break;
            }
        }
        stats.write += t.elapsed();
    }
    stats
}

/// Watches the cursors a run's pages return, so that a connector cannot page for
/// ever: a cursor returned twice in one run (a cycle `A → B → A`, not only the
/// cursor a page was given), a cursor longer than `limits.max_cursor_bytes` (one
/// that grows page after page), or more than `limits.max_empty_pages` empty pages in
/// a row each with a next cursor, ends the run with an error.
struct CursorWatch<'a> {
    connector: &'a str,
    max_bytes: usize,
    max_empty: u32,
    empty_in_a_row: u32,
    /// A hash of every cursor of this run (a cursor may be long; 8 bytes a page).
    /// The hasher is keyed at random, so a guest cannot aim for a collision.
    seen: std::collections::HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
}

impl<'a> CursorWatch<'a> {
    fn new(connector: &'a str, limits: &crate::manifest::Limits, start: Option<&str>) -> CursorWatch<'a> {
        let mut watch = CursorWatch {
            connector,
            max_bytes: limits.max_cursor_bytes,
            max_empty: limits.max_empty_pages,
            empty_in_a_row: 0,
            seen: Default::default(),
            hasher: Default::default(),
        };
        if let Some(c) = start {
            watch.seen.insert(std::hash::BuildHasher::hash_one(&watch.hasher, c));
        }
        watch
    }

    /// Checks the page that `given` asked for.
    fn check(&mut self, page: &DraftPage, given: Option<&str>) -> Result<(), RunError> {
        let Some(next) = page.next_cursor.as_deref() else { return Ok(()) };
        let fail = |what: String| {
            RunError::new(
                FailureKind::ConnectorError,
                format!("connector `{}`: list-drafts {what}; stopping instead of looping", self.connector),
            )
        };
        if next.len() > self.max_bytes {
            return Err(RunError::new(
                FailureKind::LimitExceeded,
                format!(
                    "connector `{}`: list-drafts returned a cursor of {} bytes, more than limits.max_cursor_bytes ({})",
                    self.connector,
                    next.len(),
                    self.max_bytes
                ),
            ));
        }
        if Some(next) == given {
            return Err(fail(format!("returned the cursor it was given (`{}`)", Shown::id(next))));
        }
        if !self.seen.insert(std::hash::BuildHasher::hash_one(&self.hasher, next)) {
            return Err(fail(format!(
                "returned the cursor `{}`, which an earlier page of this run returned",
                Shown::id(next)
            )));
        }
        if page.drafts.is_empty() && page.skipped.is_empty() {
            self.empty_in_a_row += 1;
            if self.empty_in_a_row > self.max_empty {
                return Err(fail(format!(
                    "returned {} empty pages in a row, each with a next cursor (limits.max_empty_pages: {})",
                    self.empty_in_a_row, self.max_empty
                )));
            }
        } else {
            self.empty_in_a_row = 0;
        }
        Ok(())
    }
}

/// The hint a run gets when its first page, asked for with the stored cursor,
/// fails: the cursor may be what the connector refuses (a cursor of another
/// version or config), and until it is reset every
/// run resumes there. Not for failures of the transport, which a cursor cannot cause.
fn reset_hint(connector: &str, cursor: &str, e: &crate::runtime::guest_error::GuestError) -> String {
    if e.kind() == FailureKind::LimitExceeded || e.case().is_some_and(|c| c.is_transport()) {
        return String::new();
    }
    // The operator pastes it into a shell: a plain name as it is, another quoted.
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    let name = if connector.chars().all(plain) && !connector.is_empty() {
        connector.to_string()
    } else if crate::untrusted::is_pastable(connector) {
        crate::untrusted::shell_quote(connector)
    } else {
        "NAME".to_string()
    };
    format!(
        " (the run's first page, from the stored cursor `{}`: if the connector refuses that cursor, \
         for one from before a change of its config or version, `host cursor reset {name}` \
         starts the next run from the beginning, or `--to CURSOR` from another cursor)",
        Shown::id(cursor)
    )
}

fn write_failure(e: std::io::Error) -> RunError {
    // A closed pipe (`host run x.wasm | head`) is the reader's choice, not a failure.
    let kind = if e.kind() == std::io::ErrorKind::BrokenPipe { FailureKind::OutputClosed } else { FailureKind::Output };
    RunError::new(kind, format!("cannot write envelopes: {e}"))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
