//! The sealer and the committer: each page sealed into envelopes and written whole,
//! to JSON Lines or, one transaction a page, to the store.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Progress, Tally, repeats};
use crate::contract::{Draft, Skipped};
use crate::envelope::Sealer;
use crate::report::{FailureKind, MAX_PROBLEMS, Problem, ProblemKind, RunError};
use crate::sink::JsonlSink;
use crate::store::{DeadLetter, PageCommit, SealedRecord, Store};
use crate::untrusted::{MAX_QUOTE, MAX_TEXT, Sampler, Shown, capped};

pub(super) struct PageMsg {
    pub(super) drafts: Vec<Draft>,
    pub(super) skipped: Vec<Skipped>,
    pub(super) collected_at: String,
    /// The cursor this page started at (it identifies the page's delivery).
    pub(super) cursor: Option<String>,
    /// The cursor after this page, and the guest's state after it: committed with it.
    pub(super) next_cursor: Option<String>,
    pub(super) state: std::collections::BTreeMap<String, String>,
}

#[derive(Default)]
pub(super) struct SealStats {
    pub(super) published: u64,
    pub(super) rejected: u64,
    pub(super) skipped: u64,
    pub(super) unchanged: u64,
    pub(super) deduplicated: u64,
    pub(super) dead_lettered: u64,
    /// Drafts not kept because their record id repeats in the run ([`repeats`]).
    pub(super) repeated: u64,
    pub(super) problems: Vec<Problem>,
    pub(super) seal: Duration,
    pub(super) write: Duration,
    pub(super) commit: Duration,
    /// Why writing or committing stopped, as the run's error.
    pub(super) write_error: Option<RunError>,
    /// The cursor after the last page written whole (or committed, with a store):
    /// where a later run resumes. `None` until a page is.
    pub(super) resume: Option<Option<String>>,
    /// The log lines of refused and skipped records: the first few, then a count.
    pub(super) rejected_lines: Sampler,
    pub(super) skipped_lines: Sampler,
    pub(super) repeated_lines: Sampler,
}

/// Where the sealer thread puts each page.
pub(super) struct Target {
    pub(super) jsonl: Option<JsonlSink>,
    pub(super) jsonl_all: bool,
    pub(super) store: Option<Store>,
    pub(super) connector: String,
    pub(super) source: String,
    pub(super) digest: String,
    pub(super) package: &'static str,
    /// The lease the run holds, checked by every page commit.
    pub(super) fence: Option<crate::store::Fence>,
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
pub(super) fn seal_pages(
    mut sealer: Sealer,
    target: Target,
    mut rx: mpsc::Receiver<PageMsg>,
    progress: Option<Progress>,
    max_record_bytes: usize,
) -> SealStats {
    let Target { mut jsonl, jsonl_all, store, connector, source, digest, package, fence } = target;
    let connector_name = connector.clone();
    let committer = store.map(|store| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<SealedPage>(1);
        let sink = jsonl.take().map(|sink| (sink, jsonl_all));
        let names = Names { connector, source, digest, package, fence };
        let thread = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || commit_pages(store, sink, names, rx))
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
                crate::faults::point(crate::faults::CrashPoint::Sealing);
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
        if let Some(progress) = &progress
            && shown.elapsed() > Duration::from_millis(200)
        {
            shown = Instant::now();
            progress(&Tally { records, pages, elapsed: started.elapsed() });
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
    stats
}

/// The names a committed page carries.
struct Names {
    connector: String,
    source: String,
    digest: String,
    package: &'static str,
    fence: Option<crate::store::Fence>,
}

/// The committer thread: commits each sealed page, in order, in one transaction with
/// its cursor and state; then, with `--out` as well, writes as JSON Lines the
/// envelopes the commit found new or changed (or every one, with `--out-all`).
fn commit_pages(
    store: Store,
    mut jsonl: Option<(JsonlSink, bool)>,
    names: Names,
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
            fence: names.fence.as_ref(),
        };
        let changed = match store.commit_page_blocking(commit) {
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
                let kind = match e {
                    crate::store::StoreError::Fenced { .. } => FailureKind::Fenced,
                    _ => FailureKind::Store,
                };
                stats.write_error = Some(RunError::caused(kind, e.to_string(), &e));
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

fn write_failure(e: std::io::Error) -> RunError {
    // A closed pipe (`host run x.wasm | head`) is the reader's choice, not a failure.
    let kind = if e.kind() == std::io::ErrorKind::BrokenPipe { FailureKind::OutputClosed } else { FailureKind::Output };
    RunError::caused(kind, format!("cannot write envelopes: {e}"), &e)
}
