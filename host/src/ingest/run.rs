//! The run loop: the sandbox started, the source name checked, pages asked for and
//! handed to the pipeline, and the report.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::cursor_watch::CursorWatch;
use super::events::run_events;
use super::pipeline::{PageMsg, SealStats, Target, seal_pages};
use super::{Output, RunOptions};
use crate::contract::PageRequest;
use crate::envelope::{ConnectorStamp, Sealer};
use crate::manifest::Manifest;
use crate::report::{ComponentInfo, Durations, FailureKind, GuestLog, RunError, RunReport, RunStatus};
use crate::runtime::component::LoadedComponent;
use crate::runtime::engine::Engine;
use crate::runtime::sandbox::{Sandbox, StartError};
use crate::sink::JsonlSink;
use crate::timestamp;
use crate::untrusted::Shown;

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
    let started_at = timestamp::now();
    let stamp = ConnectorStamp {
        name: manifest.name.clone(),
        digest: component.digest.clone(),
        package: component.package().to_string(),
    };
    let mut error = None;
    let mut cursor = options.cursor.clone();
    let limits = &manifest.limits;
    let mut stored_state = Default::default();
    let mut run_id = None;
    if let Some(store) = &output.store {
        let loaded = async {
            let (host, epoch) = match &options.lease {
                Some(l) => (Some(l.fence.owner.as_str()), Some(l.fence.epoch)),
                None => (None, None),
            };
            let (id, interrupted) = store.start_run(&manifest.name, &started_at, host, epoch).await?;
            run_id = Some(id);
            if interrupted > 0 {
                tracing::warn!(connector = %manifest.name, interrupted,
                    "earlier runs of this connector never finished (the process was killed); they are marked interrupted, and this run resumes from the last committed page");
            }
            if cursor.is_none() {
                cursor = store.cursor(&manifest.name).await?;
            }
            stored_state = store.state(&manifest.name).await?;
            Ok::<_, crate::store::StoreError>(())
        };
        if let Err(e) = loaded.await {
            error = Some(RunError::caused(FailureKind::Store, e.to_string(), &e));
        }
    }
    // Where the run starts: where it resumes if no page gets written.
    let start_cursor = cursor.clone();
    // A run that fails on its first page from the stored cursor may be pinned by it.
    let from_stored = options.cursor.is_none() && cursor.is_some();
    let store = output.store.clone();
    let (tx, rx) = mpsc::channel::<PageMsg>(2);
    let sealer = Sealer::new(&manifest.source, &stamp).with_max_record_bytes(limits.max_record_bytes);
    let progress = options.progress.clone();
    let target = Target {
        jsonl: output.jsonl,
        jsonl_all: output.jsonl_all,
        store: output.store,
        connector: manifest.name.clone(),
        source: manifest.source.clone(),
        digest: component.digest.clone(),
        package: component.package(),
        fence: options.lease.as_ref().map(|l| l.fence.clone()),
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
        Some(Err(StartError::Grant(e))) => error = Some(RunError::caused(FailureKind::Grant, e.to_string(), &e)),
        Some(Err(StartError::Guest(e))) => error = Some(RunError::guest(&e, None)),
        Some(Err(StartError::Undergranted(e))) => error = Some(RunError::new(FailureKind::Grant, e.to_string())),
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
                if let Some(lease) = &options.lease
                    && lease.lost.load(std::sync::atomic::Ordering::Relaxed)
                {
                    let why = format!(
                        "the lease of connector `{}` at epoch {} was lost (another host took it over, or it could not be renewed): the run stopped before its next page",
                        manifest.name, lease.fence.epoch
                    );
                    error = Some(RunError::new(FailureKind::Fenced, why));
                    break;
                }
                let t = Instant::now();
                let req = PageRequest { cursor: cursor.clone(), limit: Some(page_size) };
                crate::faults::point(crate::faults::CrashPoint::GuestCall);
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
                crate::faults::point(crate::faults::CrashPoint::GuestReturned);
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
                    collected_at: timestamp::now(),
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
        finished_at: timestamp::now(),
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
        let status = match &report.error {
            None => "ok",
            Some(e) if e.kind == FailureKind::Fenced => "fenced",
            Some(_) => "failed",
        };
        let kept = async {
            if let Some(id) = run_id {
                store.finish_run(id, status, &report.finished_at, &json).await?;
            }
            store.record_events(&run_events(store, manifest, &report, options).await?).await
        };
        if let Err(e) = kept.await {
            tracing::warn!("cannot keep the run report and its lifecycle events in the store: {e}");
        }
    }
    report
}

/// The hint a run gets when its first page, asked for with the stored cursor,
/// fails: the cursor may be what the connector refuses (a cursor of another
/// version or config), and until it is reset every
/// run resumes there. Not for failures of the transport, which a cursor cannot cause.
fn reset_hint(connector: &str, cursor: &str, e: &crate::runtime::guest_error::GuestError) -> String {
    if FailureKind::of(e) == FailureKind::LimitExceeded || e.case().is_some_and(|c| c.is_transport()) {
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

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
