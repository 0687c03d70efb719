//! `host check`: the connector contract as executable checks, for a partner to run
//! before handing a component over (as Airbyte's acceptance tests and the Meltano
//! SDK's built-in suites do for theirs).
//!
//! Every check runs the real component in the real sandbox, offline when a
//! recording is given (`--replay`): each run gets a fresh replay, so the same
//! recording answers every run the same way. A check passes, fails with why, or is
//! skipped with why (a connector without `get-record`, no recording to inject
//! faults into).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::contract::{Draft, ErrorCase, PageRequest};
use crate::egress::recording::{Exchange, Recorded};
use crate::egress::{Egress, Tape};
use crate::envelope::{ConnectorStamp, Sealer};
use crate::manifest::Manifest;
use crate::runtime::component::LoadedComponent;
use crate::runtime::engine::Engine;
use crate::runtime::guest_error::GuestError;
use crate::runtime::sandbox::{Sandbox, StartError};
use crate::untrusted::Shown;

/// The most pages a check run asks for before it calls the pagination endless.
pub const MAX_PAGES: usize = 10_000;
/// How many page cursors the resume check resumes from.
const RESUME_SAMPLES: usize = 3;
/// How many records `get-record` is asked for.
const GET_SAMPLES: usize = 3;
/// How many problems one check lists.
const MAX_LISTED: usize = 5;

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It holds.
    Pass,
    /// It does not; `detail` says why.
    Fail,
    /// It could not be checked; `detail` says why.
    Skip,
}

/// One check and its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Its name (stable: scripts may match it).
    pub name: &'static str,
    /// What it checks, in a sentence.
    pub about: &'static str,
    /// The outcome.
    pub outcome: Outcome,
    /// Why it failed or was skipped, or what it saw.
    pub detail: String,
}

/// What `host check` found (`--json`; `schemas/check_report.schema.json`).
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The component file.
    pub component: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The WIT package and version it was built against.
    pub package: String,
    /// The manifest, if any.
    pub manifest: Option<String>,
    /// The recording the runs were answered from, if any.
    pub replay: Option<String>,
    /// Whether every check passed (skipped ones aside).
    pub passed: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// The report as a table for a terminal.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "host check {} ({})", self.component, self.package);
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            let mark = match c.outcome {
                Outcome::Pass => "pass",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "skip",
            };
            // A detail may quote the connector (its errors, cursors, ids): cut and
            // escaped here, in one place, before it reaches a terminal.
            let _ = writeln!(s, "  {mark}  {:width$}  {}", c.name, Shown::text(&c.detail));
        }
        let failed = self.checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
        let skipped = self.checks.iter().filter(|c| c.outcome == Outcome::Skip).count();
        let passed = self.checks.len() - failed - skipped;
        let _ = writeln!(s, "{passed} passed, {failed} failed, {skipped} skipped");
        s
    }
}

/// What one run of the pages saw.
struct Pages {
    /// Every page's drafts, in order.
    pages: Vec<Vec<Draft>>,
    /// The cursor each page returned.
    cursors: Vec<Option<String>>,
    /// How the run ended, if a call failed.
    error: Option<GuestError>,
    /// Why the pages never end, if they do not.
    endless: Option<String>,
    /// Config keys asked for, origins asked to reach.
    asked: BTreeSet<String>,
    origins: BTreeSet<String>,
    /// With a replay, the recorded requests never made.
    unused: Vec<String>,
}

impl Pages {
    fn drafts(&self) -> impl Iterator<Item = &Draft> {
        self.pages.iter().flatten()
    }

    fn count(&self) -> usize {
        self.pages.iter().map(Vec::len).sum()
    }
}

/// The component, manifest and recording under check.
pub struct Checker<'a> {
    engine: &'a Engine,
    component: &'a LoadedComponent,
    /// The same component without its declaration, for the runs that must reach the
    /// guest under a manifest that grants less (empty config).
    ungated: LoadedComponent,
    manifest: &'a Manifest,
    replay: Option<PathBuf>,
    scratch: tempfile::TempDir,
}

fn guest(e: &GuestError) -> String {
    e.to_string()
}

/// The error case a failed call came back with, if the connector returned one (not
/// a trap or a limit).
fn case_of(e: &GuestError) -> Option<ErrorCase> {
    match e {
        GuestError::Connector { error, .. } => Some(error.case),
        _ => None,
    }
}

/// A sandbox that did not start, as the failure of its first call.
fn start_error(connector: &str, e: StartError) -> GuestError {
    match e {
        StartError::Guest(e) => e,
        other => {
            GuestError::Contract { connector: connector.to_string(), call: "instantiate", detail: other.to_string() }
        }
    }
}

fn listed(items: &[String]) -> String {
    let mut s = items.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > MAX_LISTED {
        s.push_str(&format!("; and {} more", items.len() - MAX_LISTED));
    }
    s
}

impl<'a> Checker<'a> {
    /// A checker of `component` under `manifest`, answered from `replay` if given.
    pub fn new(
        engine: &'a Engine,
        component: &'a LoadedComponent,
        manifest: &'a Manifest,
        replay: Option<PathBuf>,
    ) -> std::io::Result<Checker<'a>> {
        let ungated = LoadedComponent {
            path: component.path.clone(),
            digest: component.digest.clone(),
            size: component.size,
            pre: component.pre.clone(),
            cache: component.cache,
            load_time: component.load_time,
            imports: component.imports.clone(),
            exports: component.exports.clone(),
            declaration: None,
        };
        Ok(Checker { engine, component, ungated, manifest, replay, scratch: tempfile::tempdir()? })
    }

    fn tape(&self) -> Tape {
        match &self.replay {
            Some(p) => Tape::Replay(p.clone()),
            None => Tape::Off,
        }
    }

    async fn sandbox(
        &self,
        manifest: &Manifest,
        tape: &Tape,
        ungated: bool,
    ) -> Result<(Sandbox, Arc<Egress>), GuestError> {
        let egress = Egress::with_tape(manifest, tape).map_err(|e| GuestError::Contract {
            connector: manifest.name.clone(),
            call: "replay",
            detail: e.to_string(),
        })?;
        let component = if ungated { &self.ungated } else { self.component };
        let sandbox = Sandbox::start(self.engine, component, manifest, egress.clone())
            .await
            .map_err(|e| start_error(&manifest.name, e))?;
        Ok((sandbox, egress))
    }

    /// Lists pages from `cursor` until the last, [`MAX_PAGES`], or an error, the way
    /// ingest does.
    async fn pages(&self, manifest: &Manifest, tape: &Tape, cursor: Option<String>, ungated: bool) -> Pages {
        self.pages_via(manifest, tape, cursor, ungated, true).await
    }

    /// [`Checker::pages`], through `list-draft-columns` where the component has it
    /// (`columns`), or through `source.list-drafts` always.
    async fn pages_via(
        &self,
        manifest: &Manifest,
        tape: &Tape,
        cursor: Option<String>,
        ungated: bool,
        columns: bool,
    ) -> Pages {
        let mut out = Pages {
            pages: Vec::new(),
            cursors: Vec::new(),
            error: None,
            endless: None,
            asked: BTreeSet::new(),
            origins: BTreeSet::new(),
            unused: Vec::new(),
        };
        let (mut sandbox, egress) = match self.sandbox(manifest, tape, ungated).await {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        let mut cursor = cursor;
        let mut seen: HashMap<String, usize> = HashMap::new();
        while out.pages.len() < MAX_PAGES {
            let req = PageRequest { cursor: cursor.clone(), limit: Some(manifest.limits.page_size) };
            let page = match columns {
                true => sandbox.list_drafts(req).await,
                false => sandbox.list_drafts_by_source(req).await,
            };
            match page {
                Ok(page) => {
                    out.pages.push(page.drafts);
                    out.cursors.push(page.next_cursor.clone());
                    match page.next_cursor {
                        Some(next) => {
                            if let Some(first) = seen.insert(next.clone(), out.pages.len()) {
                                out.endless = Some(format!(
                                    "page {} returned cursor `{}`, which page {first} returned too: the pages never end",
                                    out.pages.len(),
                                    Shown::id(&next)
                                ));
                                break;
                            }
                            cursor = Some(next);
                        }
                        None => break,
                    }
                }
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
        if out.pages.len() >= MAX_PAGES && out.error.is_none() && out.cursors.last().is_some_and(Option::is_some) {
            out.endless = Some(format!("it returned {MAX_PAGES} pages and still a next cursor"));
        }
        let state = sandbox.state();
        out.asked = state.config.asked().clone();
        out.origins = state.http.origins.clone();
        out.unused = egress.replay_unused();
        out
    }

    /// Runs every check.
    pub async fn run(&self) -> CheckReport {
        let tape = self.tape();
        let mut checks = Vec::new();
        let mut add = |name, about, outcome, detail: String| checks.push(Check { name, about, outcome, detail });

        // source-name: stable across instances, and the manifest's name.
        let names = async {
            let (mut a, _) = self.sandbox(self.manifest, &tape, false).await?;
            let (mut b, _) = self.sandbox(self.manifest, &tape, false).await?;
            Ok::<_, GuestError>((a.source_name().await?, b.source_name().await?))
        };
        const SOURCE: &str = "the source name is well-formed, the same in every instance, and the manifest's name";
        match names.await {
            Err(e) => add("source-name", SOURCE, Outcome::Fail, guest(&e)),
            Ok((a, b)) if a != b => add(
                "source-name",
                SOURCE,
                Outcome::Fail,
                format!("one instance says `{}`, another `{}`", Shown::id(&a), Shown::id(&b)),
            ),
            Ok((a, _)) if self.manifest.path.is_some() && a != self.manifest.name => add(
                "source-name",
                SOURCE,
                Outcome::Fail,
                format!("it says `{}`; the manifest names the connector `{}`", Shown::id(&a), self.manifest.name),
            ),
            Ok((a, _)) => add("source-name", SOURCE, Outcome::Pass, format!("`{}`", Shown::id(&a))),
        }

        let full = self.pages(self.manifest, &tape, None, false).await;
        const TERMINATE: &str = "paging ends: no cursor repeats, and the last page has no next cursor";
        match (&full.endless, &full.error) {
            (Some(why), _) => add("pages-terminate", TERMINATE, Outcome::Fail, why.clone()),
            (None, Some(e)) => {
                add("pages-terminate", TERMINATE, Outcome::Fail, format!("the run failed: {}", guest(e)))
            }
            (None, None) => add(
                "pages-terminate",
                TERMINATE,
                Outcome::Pass,
                format!("{} records in {} pages", full.count(), full.pages.len()),
            ),
        }
        let complete = full.error.is_none() && full.endless.is_none();

        // Every draft seals and validates.
        const SEALS: &str = "every draft seals into an envelope that validates against the schema";
        let stamp = ConnectorStamp {
            name: self.manifest.name.clone(),
            digest: self.component.digest.clone(),
            package: self.component.package().to_string(),
        };
        let mut sealer = Sealer::new(&self.manifest.source, &stamp);
        let mut problems = Vec::new();
        let mut sealed = Vec::new();
        for d in full.drafts() {
            let mut out = Vec::new();
            match sealer.seal_into(d, &mut out) {
                Ok(_) => {
                    out.push(b'\n');
                    sealed.extend_from_slice(&out);
                }
                Err(r) => problems.push(format!("record {}: {}", r.record_id, r.reason)),
            }
        }
        if let Ok(v) = crate::envelope::validate::validate_reader(&sealed[..]) {
            problems.extend(v.findings.iter().map(|f| format!("envelope {}: {}", f.line, Shown::text(&f.message))));
        }
        match (problems.is_empty(), full.count()) {
            (false, _) => add("drafts-seal", SEALS, Outcome::Fail, listed(&problems)),
            (true, 0) => add("drafts-seal", SEALS, Outcome::Skip, "the run listed no records".into()),
            (true, n) => add("drafts-seal", SEALS, Outcome::Pass, format!("{n} envelopes")),
        }

        // Ids are unique within a run.
        const UNIQUE: &str = "record ids are unique within a run";
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for d in full.drafts() {
            *counts.entry(d.record_id.as_str()).or_default() += 1;
        }
        let repeated: Vec<String> =
            counts.iter().filter(|(_, n)| **n > 1).map(|(id, n)| format!("`{}` {n} times", Shown::id(id))).collect();
        if repeated.is_empty() {
            add("unique-ids", UNIQUE, Outcome::Pass, format!("{} ids", counts.len()))
        } else {
            add("unique-ids", UNIQUE, Outcome::Fail, listed(&repeated))
        }

        // Resuming from a page's cursor gives the rest of the full run.
        const RESUME: &str = "resuming from each page's cursor gives the same records as the full run";
        let key = |d: &Draft| (d.record_id.clone(), d.raw.clone());
        if !complete {
            add("resume", RESUME, Outcome::Skip, "the full run did not complete".into());
        } else if full.pages.len() < 2 {
            add("resume", RESUME, Outcome::Skip, "one page only: no cursor to resume from".into());
        } else {
            let last = full.pages.len() - 1;
            let mut at: Vec<usize> = vec![0, last / 2, last - 1];
            at.dedup();
            at.truncate(RESUME_SAMPLES);
            let mut wrong = Vec::new();
            for i in at {
                let cursor = full.cursors[i].clone();
                let resumed = self.pages(self.manifest, &tape, cursor.clone(), false).await;
                let want: Vec<_> = full.pages[i + 1..].iter().flatten().map(key).collect();
                let got: Vec<_> = resumed.drafts().map(key).collect();
                if let Some(why) = &resumed.endless {
                    wrong.push(format!("from page {}'s cursor: {why}", i + 1));
                } else if let Some(e) = &resumed.error {
                    wrong.push(format!("from page {}'s cursor the run failed: {}", i + 1, guest(e)));
                } else if got != want {
                    wrong.push(format!(
                        "from page {}'s cursor `{}`: {} records, the full run has {} after that page",
                        i + 1,
                        Shown::id(cursor.as_deref().unwrap_or("")),
                        got.len(),
                        want.len()
                    ));
                }
            }
            if wrong.is_empty() {
                add("resume", RESUME, Outcome::Pass, "the same records from every sampled cursor".into())
            } else {
                add("resume", RESUME, Outcome::Fail, listed(&wrong))
            }
        }

        // get-record agrees with the list.
        const GET: &str = "get-record returns what the list returned, for a sample of ids";
        let all: Vec<&Draft> = full.drafts().collect();
        // The recorded requests no run made: the lookups below take theirs from the
        // recording too (`GET /items/1`), and those are no pages the listing missed.
        let mut never_asked: BTreeSet<String> = full.unused.iter().cloned().collect();
        if all.is_empty() {
            add("get-record", GET, Outcome::Skip, "the run listed no records".into());
        } else {
            let mut sample = vec![0, all.len() / 2, all.len() - 1];
            sample.dedup();
            sample.truncate(GET_SAMPLES);
            let mut wrong = Vec::new();
            let mut unsupported = false;
            for i in sample {
                let d = all[i];
                let got = async {
                    let (mut s, egress) = self.sandbox(self.manifest, &tape, false).await?;
                    let got = s.get_record(&d.record_id).await;
                    let left: BTreeSet<String> = egress.replay_unused().into_iter().collect();
                    never_asked.retain(|u| left.contains(u));
                    got
                };
                match got.await {
                    Ok(r) => {
                        let same_raw = serde_json::from_str::<serde_json::Value>(&r.raw).ok()
                            == serde_json::from_str::<serde_json::Value>(&d.raw).ok();
                        if r.id != d.record_id || !same_raw {
                            wrong.push(format!("`{}`: get-record returned another record", Shown::id(&d.record_id)));
                        }
                    }
                    Err(e) if case_of(&e) == Some(ErrorCase::Unsupported) => unsupported = true,
                    Err(e) => wrong.push(format!("`{}`: {}", Shown::id(&d.record_id), guest(&e))),
                }
            }
            match (unsupported, wrong.is_empty()) {
                (true, true) => add("get-record", GET, Outcome::Skip, "the connector does not offer get-record".into()),
                (_, true) => add("get-record", GET, Outcome::Pass, "the sampled records agree".into()),
                (_, false) => add("get-record", GET, Outcome::Fail, listed(&wrong)),
            }
        }

        // The same recording gives the same drafts twice.
        const SAME: &str = "two runs on the same answers give the same records";
        if !complete {
            add("deterministic", SAME, Outcome::Skip, "the full run did not complete".into());
        } else {
            let again = self.pages(self.manifest, &tape, None, false).await;
            let a: Vec<String> = full.drafts().map(|d| crate::envelope::seal::draft_to_json(d, usize::MAX)).collect();
            let b: Vec<String> = again.drafts().map(|d| crate::envelope::seal::draft_to_json(d, usize::MAX)).collect();
            let detail =
                if self.replay.is_some() { "on the same recording" } else { "live (give --replay to pin the answers)" };
            if a == b && again.error.is_none() {
                add("deterministic", SAME, Outcome::Pass, detail.into())
            } else {
                let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                add(
                    "deterministic",
                    SAME,
                    Outcome::Fail,
                    format!("{detail}: {} and {} records; they differ from record {}", a.len(), b.len(), first + 1),
                )
            }
        }

        // A component that gives its pages as columns gives what `list-drafts` gives.
        const COLUMNS: &str = "the pages as columns (list-draft-columns) are the pages of list-drafts";
        if !self.component.contract_exports().columnar {
            add("columns-agree", COLUMNS, Outcome::Skip, "the component gives no columns".into());
        } else if !complete {
            add("columns-agree", COLUMNS, Outcome::Skip, "the full run did not complete".into());
        } else {
            let plain = self.pages_via(self.manifest, &tape, None, false, false).await;
            let differ = full.pages.iter().zip(&plain.pages).position(|(a, b)| a != b);
            let detail = match (&plain.error, differ) {
                (Some(e), _) => Some(format!("list-drafts failed where the columns did not: {}", guest(e))),
                (None, Some(page)) => Some(format!("page {} differs", page + 1)),
                (None, None) if plain.pages.len() != full.pages.len() || plain.cursors != full.cursors => {
                    Some(format!(
                        "list-drafts gave {} pages, the columns {}, or other cursors",
                        plain.pages.len(),
                        full.pages.len()
                    ))
                }
                (None, None) => None,
            };
            match detail {
                Some(why) => add("columns-agree", COLUMNS, Outcome::Fail, why),
                None => add(
                    "columns-agree",
                    COLUMNS,
                    Outcome::Pass,
                    match full.pages.len() {
                        1 => "the same drafts and cursor in its 1 page".to_string(),
                        n => format!("the same drafts and cursors in all {n} pages"),
                    },
                ),
            }
        }

        // Empty and invalid config: invalid-config (or a run), never a trap.
        const CONFIG: &str = "empty or invalid config gives a typed error (invalid-config), never a trap";
        let mut wrong = Vec::new();
        let mut empty = self.manifest.clone();
        empty.config = Arc::new(BTreeMap::new());
        let mut garbage = self.manifest.clone();
        let keys: BTreeSet<String> = self
            .manifest
            .config
            .keys()
            .cloned()
            .chain(self.component.declaration.iter().flat_map(|d| d.config.iter().map(|k| k.name.clone())))
            .collect();
        garbage.config = Arc::new(keys.into_iter().map(|k| (k, "%%not a valid value%%".to_string())).collect());
        for (what, manifest) in [("empty config", &empty), ("invalid values", &garbage)] {
            let run = self.pages(manifest, &Tape::Off, None, true).await;
            match &run.error {
                None => {}
                Some(e) => match case_of(e) {
                    Some(ErrorCase::Other) => wrong.push(format!("{what}: an untyped error (`other`): {}", guest(e))),
                    Some(_) => {}
                    None => wrong.push(format!("{what}: {}", guest(e))),
                },
            }
        }
        if wrong.is_empty() {
            add("invalid-config", CONFIG, Outcome::Pass, "typed errors for empty and invalid values".into())
        } else {
            add("invalid-config", CONFIG, Outcome::Fail, listed(&wrong))
        }

        // Upstream failures, replayed, surface as typed errors.
        const FAULTS: &str = "a 429, a 503 and a timeout from the upstream surface as typed errors";
        match (&self.replay, complete) {
            (None, _) => {
                add("upstream-errors", FAULTS, Outcome::Skip, "give --replay FILE to inject upstream failures".into())
            }
            (Some(_), false) => add("upstream-errors", FAULTS, Outcome::Skip, "the full run did not complete".into()),
            (Some(path), true) => match self.faults(path).await {
                Ok(wrong) if wrong.is_empty() => {
                    add("upstream-errors", FAULTS, Outcome::Pass, "rate-limited, api and timeout".into())
                }
                Ok(wrong) => add("upstream-errors", FAULTS, Outcome::Fail, listed(&wrong)),
                Err(why) => add("upstream-errors", FAULTS, Outcome::Skip, why),
            },
        }

        // Paging follows the upstream's "there is more".
        const MORE: &str = "paging follows the upstream: every recorded request is made";
        match (&self.replay, complete) {
            (None, _) => {
                add("follows-more", MORE, Outcome::Skip, "give --replay FILE to compare with a recording".into())
            }
            (Some(_), false) => add("follows-more", MORE, Outcome::Skip, "the full run did not complete".into()),
            (Some(_), true) if never_asked.is_empty() => {
                add("follows-more", MORE, Outcome::Pass, "every recorded request was made".into())
            }
            (Some(_), true) => add(
                "follows-more",
                MORE,
                Outcome::Fail,
                format!(
                    "the run stopped while the recording has more: it never asked for {}",
                    listed(&never_asked.iter().map(|u| Shown::text(u).to_string()).collect::<Vec<_>>())
                ),
            ),
        }

        // Everything it used, it declared.
        const DECLARED: &str = "every config key it read, origin it called and directory it needed is declared";
        match &self.component.declaration {
            None => add(
                "declared",
                DECLARED,
                Outcome::Fail,
                "the component declares nothing: write capabilities.toml and run `host package`".into(),
            ),
            Some(d) => {
                let mut undeclared: Vec<String> = full
                    .asked
                    .iter()
                    .filter(|k| !d.config.iter().any(|c| &c.name == *k))
                    .map(|k| format!("config key `{}`", Shown::id(k)))
                    .collect();
                let origins = crate::declaration::origins(d, self.manifest);
                undeclared.extend(
                    full.origins.iter().filter(|o| !origins.contains(*o)).map(|o| format!("origin {}", Shown::text(o))),
                );
                // Directories are not observed call by call: the run is made again
                // with only what the declaration names granted, and must come out
                // the same.
                if complete && let Some((narrow, left_out)) = least_dirs(d, self.manifest) {
                    let again = self.pages(&narrow, &tape, None, false).await;
                    let key = |d: &Draft| (d.record_id.clone(), d.raw.clone());
                    let same = full.drafts().map(key).eq(again.drafts().map(key));
                    let outcome = match (&again.error, &again.endless) {
                        (Some(e), _) => Some(format!("the run failed: {}", guest(e))),
                        (None, Some(why)) => Some(why.clone()),
                        (None, None) if !same => Some(format!(
                            "it listed {} records, against {} with every grant",
                            again.count(),
                            full.count()
                        )),
                        (None, None) => None,
                    };
                    if let Some(outcome) = outcome {
                        undeclared.push(format!(
                            "a directory: with only the declared ones granted ({}) {outcome}",
                            left_out.join(", ")
                        ));
                    }
                }
                if undeclared.is_empty() {
                    add(
                        "declared",
                        DECLARED,
                        Outcome::Pass,
                        format!("{} config keys, {} origins used", full.asked.len(), full.origins.len()),
                    )
                } else {
                    add("declared", DECLARED, Outcome::Fail, format!("used but not declared: {}", listed(&undeclared)))
                }
            }
        }

        let passed = checks.iter().all(|c| c.outcome != Outcome::Fail);
        CheckReport {
            component: self.component.path.display().to_string(),
            sha256: self.component.digest.clone(),
            package: self.component.package().to_string(),
            manifest: self.manifest.path.as_ref().map(|p| p.display().to_string()),
            replay: self.replay.as_ref().map(|p| p.display().to_string()),
            passed,
            checks,
        }
    }

    /// Runs with the first recorded answer replaced by each fault in turn; what did
    /// not end in a typed error.
    async fn faults(&self, path: &Path) -> Result<Vec<String>, String> {
        let text = crate::files::read_bounded(path, crate::files::MAX_TAPE, "an HTTP recording")
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let Some((first, rest)) = lines.split_first() else {
            return Err("the recording is empty".into());
        };
        let mut exchange: Exchange =
            serde_json::from_str(first).map_err(|e| format!("{}, line 1: {e}", path.display()))?;
        let faults = [
            ("a 429", ErrorCase::RateLimited, None, Some(1000)),
            ("a 503", ErrorCase::Api, Some(503), None),
            ("a timeout", ErrorCase::Timeout, None, None),
        ];
        let mut wrong = Vec::new();
        for (i, (what, kind, status, retry_after_ms)) in faults.into_iter().enumerate() {
            exchange.answer = Recorded::Error {
                kind,
                message: format!("host check: {what} injected by the check"),
                status,
                retry_after_ms,
            };
            let mut tape = serde_json::to_string(&exchange).expect("an exchange serialises");
            for line in rest {
                tape.push('\n');
                tape.push_str(line);
            }
            tape.push('\n');
            let faulted = self.scratch.path().join(format!("fault-{i}.jsonl"));
            std::fs::write(&faulted, tape).map_err(|e| format!("cannot write {}: {e}", faulted.display()))?;
            let run = self.pages(self.manifest, &Tape::Replay(faulted), None, false).await;
            match &run.error {
                None => wrong.push(format!(
                    "{what} on `{} {}`: the run succeeded anyway",
                    exchange.method,
                    Shown::text(&exchange.url)
                )),
                Some(e) => match case_of(e) {
                    Some(ErrorCase::Other) => wrong.push(format!("{what}: an untyped error (`other`): {}", guest(e))),
                    Some(_) => {}
                    None => wrong.push(format!("{what}: {}", guest(e))),
                },
            }
        }
        Ok(wrong)
    }
}

/// `manifest` with only the directories and the write access `declaration` names,
/// and what was taken away; `None` when it grants nothing more.
fn least_dirs(declaration: &crate::declaration::Declaration, manifest: &Manifest) -> Option<(Manifest, Vec<String>)> {
    let mut narrow = manifest.clone();
    let mut left_out = Vec::new();
    narrow.dirs.retain_mut(|d| match declaration.dirs.iter().find(|n| n.path == d.guest) {
        None => {
            left_out.push(format!("dir `{}` left out", Shown::text(&d.guest)));
            false
        }
        Some(n) => {
            if d.writable && !n.writable {
                left_out.push(format!("dir `{}` read-only", Shown::text(&d.guest)));
                d.writable = false;
            }
            true
        }
    });
    (!left_out.is_empty()).then_some((narrow, left_out))
}
