//! `host inspect`: what a component is, and what its manifest grants it.

use std::fmt::Write;

use serde::Serialize;

use crate::manifest::{Limits, Manifest};
use crate::runtime::component::LoadedComponent;

/// What `host inspect` says of a component that imports `wasi:sockets`.
pub const SOCKETS_DENIED: &str = "denied (imported: every use fails with access-denied)";

/// Everything `host inspect` shows.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The component file.
    pub component: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The WIT package and version it targets.
    pub package: String,
    /// The world of the package it implements (`connector`, `evidence-connector`,
    /// `connector-with-evidence`).
    pub world: &'static str,
    /// Which of the contract's exports it has.
    pub implements: crate::runtime::component::Exports,
    /// What its `source-name` returns (not asked while the manifest grants less than
    /// the component declares).
    pub source_name: Option<String>,
    /// What it imports.
    pub imports: Vec<String>,
    /// What it exports.
    pub exports: Vec<String>,
    /// The manifest file, if any.
    pub manifest: Option<String>,
    /// The connector's name.
    pub name: String,
    /// The envelopes' `source`.
    pub source: String,
    /// What the component declares it needs (its custom section), if it carries a
    /// declaration.
    pub declared: Option<crate::declaration::Declaration>,
    /// What it declares and the manifest does not grant (an error at run).
    pub missing: Vec<String>,
    /// What the manifest grants beyond the declaration (a warning).
    pub beyond: Vec<String>,
    /// What the manifest grants.
    pub grants: Grants,
    /// The limits in force.
    pub limits: LimitsView,
}

/// What a connector is granted.
#[derive(Debug, Serialize)]
pub struct Grants {
    /// Directories: `host -> guest (read-only|read-write)`.
    pub dirs: Vec<String>,
    /// HTTP origins it may reach (`http.allow`).
    pub http: Vec<String>,
    /// Headers the host adds for it: `header for host (from VAR)`; never the values.
    pub secrets: Vec<String>,
    /// Certificate authorities trusted for its HTTPS besides the web PKI's
    /// (`http.ca_files`): `file (N certificates)`.
    pub ca_files: Vec<String>,
    /// Config keys it can read.
    pub config: Vec<String>,
    /// Environment variables it sees (always none).
    pub env: Vec<String>,
    /// Sockets: never granted. Whether the component imports `wasi:sockets` (linked
    /// with every use denied) or not.
    pub sockets: &'static str,
}

/// The limits in force, with the instance-allocation strategy.
#[derive(Debug, Serialize)]
pub struct LimitsView {
    #[serde(flatten)]
    limits: Limits,
    /// Whether instances come from the pooling allocator.
    pooling_allocator: bool,
}

impl Inspection {
    /// Describes `component` under `manifest`.
    pub fn new(
        component: &LoadedComponent,
        manifest: &Manifest,
        source_name: Option<String>,
        pooling: bool,
    ) -> Inspection {
        let check = component.declaration.as_ref().map(|d| crate::declaration::check(d, manifest)).unwrap_or_default();
        Inspection {
            component: component.path.display().to_string(),
            size: component.size,
            sha256: component.digest.clone(),
            package: component.package().to_string(),
            world: component.contract_exports().world(),
            implements: component.contract_exports(),
            source_name,
            imports: component.imports.clone(),
            exports: component.exports.clone(),
            manifest: manifest.path.as_ref().map(|p| p.display().to_string()),
            name: manifest.name.clone(),
            source: manifest.source.clone(),
            declared: component.declaration.clone(),
            missing: check.missing,
            beyond: check.beyond,
            grants: Grants {
                dirs: manifest
                    .dirs
                    .iter()
                    .map(|d| {
                        let mode = if d.writable { "read-write" } else { "read-only" };
                        format!("{} -> {} ({mode})", d.host.display(), d.guest)
                    })
                    .collect(),
                http: manifest.http.allow.iter().map(|r| r.text.clone()).collect(),
                secrets: manifest
                    .http
                    .secrets
                    .iter()
                    .map(|s| format!("{} for {} (from {})", s.header, s.host, s.from_env))
                    .collect(),
                ca_files: manifest
                    .http
                    .extra_roots
                    .iter()
                    .map(|r| format!("{} ({} certificates)", r.path.display(), r.certificates.len()))
                    .collect(),
                config: manifest.config.keys().cloned().collect(),
                env: Vec::new(),
                sockets: if component.imports.iter().any(|i| i.starts_with("wasi:sockets/")) {
                    SOCKETS_DENIED
                } else {
                    "none (not imported)"
                },
            },
            limits: LimitsView {
                // The bound in force, also where the manifest leaves it to the memory cap.
                limits: Limits { max_page_bytes: Some(manifest.limits.page_bytes()), ..manifest.limits.clone() },
                pooling_allocator: pooling,
            },
        }
    }

    /// The inspection as aligned text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let none = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        let l = &self.limits.limits;
        let _ = writeln!(s, "component     {}", self.component);
        let _ = writeln!(s, "size          {} bytes", self.size);
        let _ = writeln!(s, "sha256        {}", self.sha256);
        let _ = writeln!(s, "package       {}", self.package);
        let mut implements = Vec::new();
        if self.implements.source {
            implements.push("source (records: run, get, serve's schedule)");
        }
        if self.implements.columnar {
            implements.push("columnar (the source's pages as columns, for ingest)");
        }
        if self.implements.evidence {
            implements.push("evidence (search, fetch)");
        }
        let _ = writeln!(s, "world         {} of {}: {}", self.world, self.package, implements.join(", "));
        match &self.source_name {
            Some(name) => {
                let _ = writeln!(s, "source-name   {}", crate::untrusted::Shown::id(name));
            }
            None if !self.implements.source => {
                let _ = writeln!(s, "source-name   none (an evidence connector has no source export)");
            }
            None => {
                let _ = writeln!(s, "source-name   not asked: the manifest grants less than the component declares");
            }
        }
        let _ = writeln!(s, "imports");
        for i in &self.imports {
            let _ = writeln!(s, "  {i}");
        }
        let _ = writeln!(s, "exports");
        for e in &self.exports {
            let _ = writeln!(s, "  {e}");
        }
        let _ = writeln!(s, "manifest      {}", self.manifest.as_deref().unwrap_or("none (nothing granted)"));
        let _ = writeln!(s, "name          {}", self.name);
        let _ = writeln!(s, "source        {}", self.source);
        match &self.declared {
            Some(d) => {
                let _ = writeln!(s, "declares");
                let _ = write!(s, "{d}");
                if d == &crate::declaration::Declaration::default() {
                    let _ = writeln!(s, "  nothing");
                }
            }
            None => {
                let _ = writeln!(s, "declares      nothing (no capabilities section: `host package` writes one)");
            }
        }
        for m in &self.missing {
            let _ = writeln!(s, "missing       {m}");
        }
        for b in &self.beyond {
            let _ = writeln!(s, "beyond        {b}");
        }
        let _ = writeln!(s, "grants");
        let _ = writeln!(s, "  dirs        {}", none(&self.grants.dirs));
        if self.grants.http.is_empty() {
            let _ = writeln!(s, "  http        none (every request is denied)");
        } else {
            let _ = writeln!(s, "  http        {}", self.grants.http.join(", "));
        }
        let _ = writeln!(s, "  secrets     {}", none(&self.grants.secrets));
        if !self.grants.ca_files.is_empty() {
            let _ = writeln!(s, "  extra CAs   {}", self.grants.ca_files.join(", "));
        }
        let _ = writeln!(s, "  config      {}", none(&self.grants.config));
        let _ = writeln!(s, "  env         none");
        let _ = writeln!(s, "  sockets     {}", self.grants.sockets);
        let _ = writeln!(s, "limits");
        let _ = writeln!(s, "  call_timeout_ms       {}", l.call_timeout_ms);
        let _ = writeln!(s, "  run_timeout_ms        {}", l.run_timeout_ms);
        let _ = writeln!(s, "  memory_mib            {}", l.memory_mib);
        let _ = writeln!(s, "  page_size             {}", l.page_size);
        let _ = writeln!(s, "  max_records_per_page  {}", l.max_records_per_page);
        let _ = writeln!(s, "  max_page_bytes        {}", l.page_bytes());
        let _ = writeln!(s, "  state_bytes           {}", l.state_bytes);
        let _ = writeln!(s, "  log_lines_per_second  {}", l.log_lines_per_second);
        let _ = writeln!(s, "  log_line_bytes        {}", l.log_line_bytes);
        let _ = writeln!(s, "  pooling_allocator     {}", self.limits.pooling_allocator);
        s
    }
}
