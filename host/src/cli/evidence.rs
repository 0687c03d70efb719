//! `host search`, `host fetch` and `host provenance`: an evidence connector's calls
//! from the command line, and a claim's chain of evidence from the store.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::{CliError, ConnectorArgs, load};
use crate::egress::Egress;
use crate::evidence::cache::Cache;
use crate::evidence::{self, Answered, Call, Connector, EvidenceError, Report};
use crate::runtime::sandbox::StartError;
use crate::untrusted::Shown;

/// `host search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub connector: ConnectorArgs,
    /// What to search for.
    pub query: String,
    /// The most results to ask for (1 to 100).
    #[arg(long, value_name = "N", default_value_t = evidence::DEFAULT_LIMIT)]
    pub limit: u32,
    /// Link every result to this claim in the store (with --store).
    #[arg(long, value_name = "CLAIM_ID", requires = "store")]
    pub claim: Option<String>,
    /// The store to link the results into (with --claim). Without URL: sqlite:.host/state.db
    #[arg(
        long,
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = crate::store::DEFAULT_URL,
        requires = "claim"
    )]
    pub store: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `host fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub connector: ConnectorArgs,
    /// The evidence's id (as a search returned it).
    pub id: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where `host search` and `host fetch` write.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the envelopes to FILE instead of standard output (`-` is standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the call's report as JSON to FILE (schemas/evidence_report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `host provenance`.
#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// The claim.
    pub claim: String,
    /// The store.
    #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
    pub store: String,
}

/// `host search`.
pub async fn search_cmd(cache_dir: Option<PathBuf>, args: SearchArgs) -> Result<(), CliError> {
    let call = Call::Search { query: &args.query, limit: args.limit };
    let store = match &args.store {
        Some(url) => Some(crate::store::Store::open(url).await?),
        None => None,
    };
    let Called { mut report, answered, source } = call_cmd(cache_dir, &args.connector, call).await?;
    if let (Some(store), Some(claim)) = (&store, &args.claim) {
        let links = evidence::links(claim, &report.connector, &source, &answered.results, &crate::timestamp::now());
        report.linked = Some(store.link_evidence(&links).await?);
        report.claim = Some(claim.clone());
    }
    finish(&args.output, &report, &answered)
}

/// `host fetch`.
pub async fn fetch_cmd(cache_dir: Option<PathBuf>, args: FetchArgs) -> Result<(), CliError> {
    let call = Call::Fetch { id: &args.id };
    let Called { report, answered, .. } = call_cmd(cache_dir, &args.connector, call).await?;
    finish(&args.output, &report, &answered)?;
    if answered.results.is_empty() && answered.rejected.is_empty() {
        return Err(CliError::NoEvidence(args.id.clone()));
    }
    Ok(())
}

/// What a call answered, with its report and the manifest's `source` (which links name).
struct Called {
    report: Report,
    answered: Answered,
    source: String,
}

/// Loads the connector and answers `call`.
async fn call_cmd(cache_dir: Option<PathBuf>, args: &ConnectorArgs, call: Call<'_>) -> Result<Called, CliError> {
    let (engine, component, manifest) = load(cache_dir, args)?;
    if !component.contract_exports().evidence {
        return Err(CliError::WrongWorld {
            path: args.component.clone(),
            world: component.contract_exports().world(),
            hint: "search and fetch need an evidence connector: a component of the world `evidence-connector` \
                   or `connector-with-evidence` of partner:connector@1.1.0"
                .into(),
        });
    }
    let egress = Egress::with_tape(&manifest, &args.tape())?;
    let cache = Cache::new(&manifest.cache);
    let connector = Connector { engine: &engine, component: &component, manifest: &manifest, egress, cache: &cache };
    let started = Instant::now();
    let answered = evidence::answer(&connector, call).await.map_err(|e| match e {
        EvidenceError::BadCall(m) => CliError::Usage(m),
        EvidenceError::Start(StartError::Grant(e)) => CliError::Grant(e),
        EvidenceError::Start(StartError::Guest(e)) | EvidenceError::Guest(e) => CliError::Guest(e),
        EvidenceError::Start(StartError::Undergranted(e)) => CliError::Undergranted(e),
    })?;
    let report = Report::new(&manifest.name, call, &answered, &cache, started.elapsed());
    Ok(Called { report, answered, source: manifest.source.clone() })
}

/// Writes the envelopes and the report; refused items make the command fail after
/// the others are written.
fn finish(output: &OutputArgs, report: &Report, answered: &Answered) -> Result<(), CliError> {
    let mut lines = Vec::new();
    for r in &answered.results {
        lines.extend_from_slice(&r.line);
    }
    match &output.out {
        Some(path) if path.as_os_str() != "-" => std::fs::write(path, &lines)
            .map_err(|source| CliError::Io { what: format!("cannot write {}", path.display()), source })?,
        _ => std::io::stdout()
            .write_all(&lines)
            .map_err(|source| CliError::Io { what: "cannot write to standard output".into(), source })?,
    }
    for r in &answered.rejected {
        eprintln!("error: evidence `{}` refused: {}", Shown::id(&r.record_id), Shown::text(&r.reason));
    }
    eprintln!("{}", report.summary());
    if let Some(path) = &output.report {
        let json = serde_json::to_string_pretty(report).expect("a report serialises");
        std::fs::write(path, crate::secrets::redact(&json).as_bytes())
            .map_err(|source| CliError::Io { what: format!("cannot write report {}", path.display()), source })?;
    }
    if !answered.rejected.is_empty() {
        return Err(CliError::EvidenceRefused(answered.rejected.len()));
    }
    Ok(())
}

/// `host provenance`: the claim's links as JSON Lines, oldest first.
pub async fn provenance_cmd(args: ProvenanceArgs) -> Result<(), CliError> {
    let store = crate::store::Store::open(&args.store).await?;
    let links = store.provenance(&args.claim).await?;
    if links.is_empty() {
        eprintln!("claim `{}` has no linked evidence in {}", Shown::id(&args.claim), Shown::id(&args.store));
    }
    let mut out = Vec::new();
    for link in &links {
        serde_json::to_writer(&mut out, link).expect("a link serialises");
        out.push(b'\n');
    }
    std::io::stdout()
        .write_all(&out)
        .map_err(|source| CliError::Io { what: "cannot write to standard output".into(), source })
}
