//! The `host` command line: argument parsing and output only. Every command is a
//! thin call into the library, so that tests can reach everything it does.

mod admin;
mod evidence;
mod new;
mod package;
mod progress;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::egress::{Egress, Tape};
use crate::runtime::component::{LoadError, LoadedComponent};
use crate::runtime::engine::{Engine, EngineOptions, cache};

use crate::ingest::{self, RunOptions};
use crate::lookup::LookupError;
use crate::manifest::{DirGrant, Manifest, ManifestError};
use crate::report::RunStatus;
use crate::runtime::guest_error::GuestError;
use crate::runtime::sandbox::{Sandbox, StartError};
use crate::sink::JsonlSink;

/// Run untrusted data connectors (WebAssembly components) in a sandbox.
#[derive(Debug, Parser)]
#[command(name = "host", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Where compiled components are cached [default: $HOST_CACHE_DIR, else ~/.cache/connector-host]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every component afresh; read and write no cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an unexpected failure (I/O, writing output)
  2  bad command-line usage
  3  bad input: a missing file, not a component, a component for another WIT world or
     version, a bad manifest, an unset ${VAR}, a directory that cannot be granted
  4  the connector returned an error (connector-error), `fetch` found no such
     evidence, or the host refused evidence the connector returned
  5  the connector hit a limit (deadline, memory, output size) and was stopped
  6  the connector trapped (panicked)
  7  `validate` found invalid envelopes
  8  the store failed: it cannot be opened, is corrupt or from a newer host, is
     read-only, or is full (the page in progress is not committed)
  9  `check` found a check that fails";

/// A `host` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a connector once: list every page, seal each record into an envelope, and
    /// write the envelopes as JSON Lines.
    Run(RunArgs),
    /// Fetch one record by id and print its sealed envelope.
    Get(GetArgs),
    /// Show what a component is, what it imports and exports, and what it is granted.
    Inspect(InspectArgs),
    /// Check a JSON Lines file of envelopes against the envelope schema and recompute
    /// every raw_sha256.
    Validate(ValidateArgs),
    /// List the store's queue of published changes, in order, as JSON Lines; or
    /// acknowledge what a consumer has taken (`--ack SEQ`).
    Queue(QueueArgs),
    /// List, show or replay the store's dead letters (drafts the host refused to seal).
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Seal the store's pending dead letters again and publish those that now pass
    /// (the same as `dead-letters replay`).
    Replay(ReplayArgs),
    /// A connector's current lifecycle state, reduced from its events in the store.
    Status(StatusArgs),
    /// Show or reset a connector's stored cursor (where its next run resumes).
    #[command(subcommand)]
    Cursor(CursorCommand),
    /// Check the store as a whole.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run many connectors on schedules into one store, swap their components when
    /// the files change, and answer an admin API (health, metrics, runs, reloads).
    Serve(ServeArgs),
    /// Write what a connector needs (config keys, HTTP origins, directories, state)
    /// into its component, from a capabilities TOML file.
    Package(package::PackageArgs),
    /// Compile components into the compile cache ahead of a run or a hot swap.
    Compile(package::CompileArgs),
    /// Write a working connector skeleton (source, manifest, capabilities, a recorded
    /// upstream, a test, a build script) in Rust, Python or JavaScript.
    New(new::NewArgs),
    /// Make a connector's version that awaits approval live in a running `host
    /// serve` (a hot swap that declared more than the live version was parked).
    Approve(admin::ApproveArgs),
    /// Search an evidence connector: its results scored, sealed and written as JSON
    /// Lines, best first; with --claim and --store, linked to a claim.
    Search(evidence::SearchArgs),
    /// Fetch one piece of evidence by id from an evidence connector, sealed.
    Fetch(evidence::FetchArgs),
    /// List the evidence linked to a claim in the store, as JSON Lines.
    Provenance(evidence::ProvenanceArgs),
    /// Check a connector against the contract: paging ends and resumes, ids are
    /// unique, drafts seal, get-record agrees, errors are typed, it used only what it
    /// declared. Exit code 9 when a check fails.
    Check(CheckArgs),
}

/// `host check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connector: ConnectorArgs,
    /// Print the report as JSON (schemas/check_report.schema.json).
    #[arg(long)]
    pub json: bool,
}

/// `host serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The connectors file (see examples/connectors.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The admin API's address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The bearer token the admin API requires; required when --listen is not a
    /// loopback address.
    #[arg(long, value_name = "TOKEN", env = "HOST_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `host status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The connector's name; without it, one JSON line per connector the store has
    /// events of: its state, since when, its last health check, sync counts and how
    /// many anomalies its events hold.
    pub name: Option<String>,
    /// The store.
    #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
    pub store: String,
}

/// `host store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Read the whole store: SQLite's integrity check over every page, and every
    /// stored envelope against its raw_sha256. Prints what it found as JSON; exit code
    /// 0 when the store is sound, 8 when it is not. It reads the whole file (the host
    /// never does on its own: opening a store reads a page or two).
    Verify {
        /// The store.
        #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
        store: String,
    },
}

/// `host cursor ...`.
#[derive(Debug, Subcommand)]
pub enum CursorCommand {
    /// Print the cursor the connector's next run resumes from.
    Show {
        /// The connector's name.
        name: String,
        /// The store.
        #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
        store: String,
    },
    /// Clear the stored cursor, so that the next run starts from the beginning (what
    /// is stored already is found unchanged, not published again), or set it with
    /// --to. For a cursor the connector refuses, such as one from before a change of
    /// its base_url. Not while a run of the connector is going on: under `host
    /// serve`, use `POST /connectors/NAME/cursor/reset`, which waits for no run.
    Reset {
        /// The connector's name.
        name: String,
        /// Set the cursor to CURSOR instead of clearing it.
        #[arg(long, value_name = "CURSOR")]
        to: Option<String>,
        /// The store.
        #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
        store: String,
    },
}

/// `host dead-letters ...`.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters as JSON Lines (without their drafts).
    List {
        /// The store.
        #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
        store: String,
        /// Only those not yet replayed.
        #[arg(long)]
        pending: bool,
    },
    /// Show one dead letter, its draft included, as JSON.
    Show {
        /// The dead letter's id.
        id: i64,
        /// The store.
        #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
        store: String,
    },
    /// Seal pending dead letters again and publish those that now pass.
    Replay(ReplayArgs),
}

/// `host replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The store.
    #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
    pub store: String,
    /// Only this connector's dead letters.
    #[arg(long, value_name = "NAME")]
    pub connector: Option<String>,
}

/// `host queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The store.
    #[arg(long, value_name = "URL", default_value = crate::store::DEFAULT_URL)]
    pub store: String,
    /// List entries after this sequence number.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub after: i64,
    /// List at most N entries.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: i64,
    /// Mark every entry up to and including SEQ as consumed, and list nothing.
    #[arg(long, value_name = "SEQ")]
    pub ack: Option<i64>,
    /// Keep listing: wait for new entries and print them as they are committed
    /// (woken by PostgreSQL's NOTIFY; on SQLite, polled every second). Stop it with
    /// Ctrl-C.
    #[arg(long, conflicts_with = "ack")]
    pub follow: bool,
}

/// Where the component and its grants come from.
#[derive(Debug, Args)]
pub struct ConnectorArgs {
    /// The connector component (a .wasm file).
    pub component: PathBuf,
    /// The manifest [default: the .toml file beside the component, if there is one]
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Set a config value, over the manifest's (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Grant a directory, read-only: HOST, or HOST::GUEST to choose the guest's path (repeatable).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,
    /// Record every HTTP exchange the host makes for the connector to FILE (JSON
    /// Lines, secrets redacted).
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer the connector's HTTP requests from a recording; no network is used.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

impl ConnectorArgs {
    /// Whether HTTP is recorded or replayed.
    pub fn tape(&self) -> Tape {
        match (&self.record, &self.replay) {
            (Some(p), _) => Tape::Record(p.clone()),
            (_, Some(p)) => Tape::Replay(p.clone()),
            _ => Tape::Off,
        }
    }
}

/// `host run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub connector: ConnectorArgs,
    /// Write envelopes to FILE instead of standard output (`-` is standard output).
    /// With --store, only those new or changed in the store (what its queue
    /// publishes), unless --out-all.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// With --store and --out, write every sealed envelope to --out, unchanged ones too.
    #[arg(long, requires_all = ["out", "store"])]
    pub out_all: bool,
    /// Write the run report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Records per page to ask the connector for [default: the manifest's limits.page_size]
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Start from this cursor (a report's next_cursor).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Stop after N pages.
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,
    /// Ingest into a store: envelopes are upserted, changed ones queued, and each
    /// page's cursor and state committed with it; envelopes go to stdout only with
    /// --out. Without URL: sqlite:.host/state.db
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = crate::store::DEFAULT_URL)]
    pub store: Option<String>,
}

/// `host get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub connector: ConnectorArgs,
    /// The record's id.
    pub id: String,
}

/// `host inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub connector: ConnectorArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `host validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The JSON Lines file of envelopes.
    pub file: PathBuf,
}

/// Why a command failed; each has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// The component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The manifest could not be loaded.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A call into the connector failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// A directory could not be granted.
    #[error(transparent)]
    Grant(#[from] crate::runtime::capabilities::wasi::GrantError),
    /// The manifest grants less than the component declares it needs.
    #[error(transparent)]
    Undergranted(#[from] crate::declaration::Undergranted),
    /// A running daemon could not be reached, or refused what was asked.
    #[error("{0}")]
    Daemon(String),
    /// `host check` found failures.
    #[error("{0} of the checks failed")]
    ChecksFailed(usize),
    /// A capabilities file cannot be read as a declaration.
    #[error(transparent)]
    Declaration(crate::declaration::DeclarationError),
    /// The engine could not be set up.
    #[error(transparent)]
    Engine(#[from] crate::runtime::engine::EngineError),
    /// A run ended in failure (its report says why).
    #[error("{}", .0.message)]
    RunFailed(crate::report::RunError),
    /// A run ended in failure with no error in its report.
    #[error("the run failed")]
    Failed,
    /// `host get`: the record's draft cannot be sealed.
    #[error("record `{record_id}` cannot be sealed: {reason}")]
    Rejected {
        /// The record.
        record_id: String,
        /// Why the host refused its draft.
        reason: String,
    },
    /// The component is not of a world the command runs.
    #[error("{} is a component of the world `{world}`: {hint}", path.display())]
    WrongWorld {
        /// The component.
        path: PathBuf,
        /// Its world.
        world: &'static str,
        /// What the command needs.
        hint: String,
    },
    /// `host fetch`: the connector has no such evidence.
    #[error("the connector has no evidence `{}`", crate::untrusted::Shown::id(.0))]
    NoEvidence(String),
    /// `host search` or `host fetch`: the host refused some of what the connector returned.
    #[error("{0} of the evidence the connector returned was refused (see above)")]
    EvidenceRefused(usize),
    /// `validate` found invalid envelopes.
    #[error("{0} of the envelopes are invalid")]
    Invalid(u64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// `serve` could not start.
    #[error(transparent)]
    Serve(crate::serve::ServeError),
    /// An HTTP recording could not be opened or read.
    #[error(transparent)]
    Tape(#[from] crate::egress::recording::TapeError),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Load(_)
            | CliError::Manifest(_)
            | CliError::Grant(_)
            | CliError::Undergranted(_)
            | CliError::Declaration(_)
            | CliError::WrongWorld { .. }
            | CliError::Tape(_) => 3,
            CliError::NoEvidence(_) | CliError::EvidenceRefused(_) => 4,
            CliError::Serve(crate::serve::ServeError::Store(_)) => 8,
            CliError::Serve(_) => 3,
            CliError::Guest(e) => crate::report::FailureKind::of(e).exit_code(),
            CliError::RunFailed(e) => e.kind.exit_code(),
            CliError::Failed | CliError::Rejected { .. } => 1,
            CliError::Invalid(_) => 7,
            CliError::ChecksFailed(_) => 9,
            CliError::Store(_) => 8,
            CliError::Engine(_) | CliError::Io { .. } | CliError::Daemon(_) => 1,
        }
    }
}

/// Runs the command `cli` describes.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let cache_dir = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(cache::default_dir) };
    match cli.command {
        Command::Run(args) => run_cmd(cache_dir, args).await,
        Command::Get(args) => get_cmd(cache_dir, args).await,
        Command::Inspect(args) => inspect_cmd(cache_dir, args).await,
        Command::Validate(args) => validate_cmd(&args.file),
        Command::Queue(args) => queue_cmd(args).await,
        Command::DeadLetters(DeadLettersCommand::List { store, pending }) => dead_letters_list(&store, pending).await,
        Command::DeadLetters(DeadLettersCommand::Show { id, store }) => dead_letters_show(&store, id).await,
        Command::DeadLetters(DeadLettersCommand::Replay(args)) | Command::Replay(args) => replay_cmd(args).await,
        Command::Status(args) => status_cmd(args).await,
        Command::Cursor(CursorCommand::Show { name, store }) => cursor_show(&store, &name).await,
        Command::Cursor(CursorCommand::Reset { name, to, store }) => cursor_reset(&store, &name, to.as_deref()).await,
        Command::Store(StoreCommand::Verify { store }) => store_verify(&store).await,
        Command::Package(args) => package::package_cmd(args),
        Command::Compile(args) => package::compile_cmd(cache_dir, args),
        Command::Check(args) => check_cmd(cache_dir, args).await,
        Command::New(args) => new::new_cmd(args),
        Command::Approve(args) => admin::approve_cmd(args).await,
        Command::Search(args) => evidence::search_cmd(cache_dir, args).await,
        Command::Fetch(args) => evidence::fetch_cmd(cache_dir, args).await,
        Command::Provenance(args) => evidence::provenance_cmd(args).await,
        Command::Serve(args) => {
            let options =
                crate::serve::ServeOptions { config: args.config, listen: args.listen, token: args.token, cache_dir };
            crate::serve::serve(options).await.map_err(CliError::Serve)
        }
    }
}

/// Loads the component and its manifest, with `--set` and `--dir` applied, and
/// checks the manifest's grants against what the component declares: less is an
/// error, more a warning.
pub fn load(cache_dir: Option<PathBuf>, args: &ConnectorArgs) -> Result<(Engine, LoadedComponent, Manifest), CliError> {
    let (engine, component, manifest) = load_unchecked(cache_dir, args)?;
    crate::declaration::require(component.declaration.as_ref(), &manifest)?;
    if let Some(declared) = &component.declaration {
        for beyond in crate::declaration::check(declared, &manifest).beyond {
            eprintln!("warning: {beyond} (least privilege: grant only what the component declares)");
        }
    }
    Ok((engine, component, manifest))
}

/// [`load`] without the check of the grants (`host inspect` shows what is missing).
fn load_unchecked(
    cache_dir: Option<PathBuf>,
    args: &ConnectorArgs,
) -> Result<(Engine, LoadedComponent, Manifest), CliError> {
    let manifest = load_manifest(args)?;
    let engine = Engine::new(EngineOptions { cache_dir })?;
    let component = LoadedComponent::load(&engine, &args.component)?;
    Ok((engine, component, manifest))
}

fn load_manifest(args: &ConnectorArgs) -> Result<Manifest, CliError> {
    let name =
        args.component.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "connector".into());
    let env = |var: &str| std::env::var(var).ok();
    let beside = args.component.with_extension("toml");
    let mut manifest = match &args.manifest {
        Some(path) => Manifest::load(path, &name, &env)?,
        None if beside.is_file() => Manifest::load(&beside, &name, &env)?,
        None => Manifest::empty(&name),
    };
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("--set `{kv}`: expected KEY=VALUE")))?;
        manifest.set_config(k, v);
    }
    for d in &args.dirs {
        let (host, guest) = match d.split_once("::") {
            Some((h, g)) => (h, g),
            None => (d.as_str(), d.as_str()),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(CliError::Usage(format!("--dir `{d}`: expected HOST or HOST::GUEST")));
        }
        manifest.dirs.push(DirGrant { host: PathBuf::from(host), guest: guest.to_string(), writable: false });
    }
    Ok(manifest)
}

/// Refuses a component without a `source` export, for the commands that list or get
/// records.
fn require_source(args: &ConnectorArgs, component: &LoadedComponent) -> Result<(), CliError> {
    let exports = component.contract_exports();
    if exports.source {
        return Ok(());
    }
    Err(CliError::WrongWorld {
        path: args.component.clone(),
        world: exports.world(),
        hint: "it has no records to list or get, only evidence to search and fetch: use `host search` or \
               `host fetch`"
            .into(),
    })
}

async fn run_cmd(cache_dir: Option<PathBuf>, args: RunArgs) -> Result<(), CliError> {
    let (engine, component, manifest) = load(cache_dir, &args.connector)?;
    require_source(&args.connector, &component)?;
    if let Some(n) = args.limit
        && (n == 0 || n > manifest.limits.max_records_per_page)
    {
        return Err(CliError::Usage(format!(
            "--limit {n}: must be from 1 to the manifest's limits.max_records_per_page ({})",
            manifest.limits.max_records_per_page
        )));
    }
    let store = match &args.store {
        Some(url) => Some(crate::store::Store::open(url).await?),
        None => None,
    };
    let jsonl = match &args.out {
        // `-` is standard output, as for most tools (with --store too).
        Some(path) if path.as_os_str() == "-" => Some(JsonlSink::stdout()),
        Some(path) => Some(
            JsonlSink::file(path)
                .map_err(|source| CliError::Io { what: format!("cannot create {}", path.display()), source })?,
        ),
        None if store.is_none() => Some(JsonlSink::stdout()),
        None => None,
    };
    let egress = Egress::with_tape(&manifest, &args.connector.tape())?;
    let shown = progress::RunProgress::on_terminal();
    let options = RunOptions {
        page_size: args.limit,
        cursor: args.cursor,
        max_pages: args.max_pages,
        progress: shown.as_ref().map(progress::RunProgress::callback),
        egress: Some(egress),
        ..RunOptions::default()
    };
    let kept = store.clone();
    let output = ingest::Output { jsonl, store, jsonl_all: args.out_all };
    let report = ingest::run_into(&engine, &component, &manifest, &options, output).await;
    if let Some(shown) = shown {
        shown.finish();
    }
    // The process ends here: the store is left one file of its real size.
    if let Some(store) = kept {
        store.truncate_wal().await;
    }
    eprintln!("{}", report.summary());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).expect("a report serialises");
        std::fs::write(path, crate::secrets::redact(&json).as_bytes())
            .map_err(|source| CliError::Io { what: format!("cannot write report {}", path.display()), source })?;
    }
    match (report.status, report.error) {
        (RunStatus::Ok, _) => Ok(()),
        (_, Some(e)) if e.kind == crate::report::FailureKind::OutputClosed => Ok(()),
        (_, Some(e)) => Err(CliError::RunFailed(e)),
        (_, None) => Err(CliError::Failed),
    }
}

async fn get_cmd(cache_dir: Option<PathBuf>, args: GetArgs) -> Result<(), CliError> {
    let (engine, component, manifest) = load(cache_dir, &args.connector)?;
    require_source(&args.connector, &component)?;
    let egress = Egress::with_tape(&manifest, &args.connector.tape())?;
    let out =
        crate::lookup::get_sealed(&engine, &component, &manifest, egress, &args.id).await.map_err(|e| match e {
            LookupError::Start(StartError::Grant(e)) => CliError::Grant(e),
            LookupError::Start(StartError::Guest(e)) | LookupError::Guest(e) => CliError::Guest(e),
            LookupError::Start(StartError::Undergranted(e)) => CliError::Undergranted(e),
            LookupError::Rejected { record_id, reason } => CliError::Rejected { record_id, reason },
        })?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|source| CliError::Io { what: "cannot write to standard output".into(), source })
}

async fn start(
    engine: &Engine,
    component: &LoadedComponent,
    manifest: &Manifest,
    egress: std::sync::Arc<Egress>,
) -> Result<Sandbox, CliError> {
    Sandbox::start(engine, component, manifest, egress).await.map_err(|e| match e {
        StartError::Grant(e) => CliError::Grant(e),
        StartError::Guest(e) => CliError::Guest(e),
        StartError::Undergranted(e) => CliError::Undergranted(e),
    })
}

async fn check_cmd(cache_dir: Option<PathBuf>, args: CheckArgs) -> Result<(), CliError> {
    let (engine, component, manifest) = load(cache_dir, &args.connector)?;
    require_source(&args.connector, &component)?;
    let replay = match args.connector.tape() {
        crate::egress::Tape::Replay(path) => Some(path),
        crate::egress::Tape::Off => None,
        crate::egress::Tape::Record(_) => {
            return Err(CliError::Usage("host check answers from a recording (--replay), it records none".into()));
        }
    };
    let checker = crate::check::Checker::new(&engine, &component, &manifest, replay)
        .map_err(|source| CliError::Io { what: "cannot make a scratch directory".into(), source })?;
    let report = checker.run().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("a check report serialises"));
    } else {
        print!("{}", report.to_text());
    }
    if report.passed {
        Ok(())
    } else {
        Err(CliError::ChecksFailed(report.checks.iter().filter(|c| c.outcome == crate::check::Outcome::Fail).count()))
    }
}

async fn inspect_cmd(cache_dir: Option<PathBuf>, args: InspectArgs) -> Result<(), CliError> {
    let (engine, component, manifest) = load_unchecked(cache_dir, &args.connector)?;
    let egress = Egress::with_tape(&manifest, &args.connector.tape())?;
    // A sandbox is refused while the manifest grants less than the component
    // declares: then inspect shows what is missing, and asks no `source-name`.
    let undergranted = crate::declaration::require(component.declaration.as_ref(), &manifest).is_err();
    let source_name = if undergranted || !component.contract_exports().source {
        None
    } else {
        let mut sandbox = start(&engine, &component, &manifest, egress).await?;
        Some(sandbox.source_name().await?)
    };
    let info = crate::inspect::Inspection::new(&component, &manifest, source_name, engine.pooling());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info).expect("an inspection serialises"));
    } else {
        print!("{}", info.to_text());
    }
    Ok(())
}

async fn dead_letters_list(url: &str, pending: bool) -> Result<(), CliError> {
    let store = crate::store::Store::open(url).await?;
    for letter in store.dead_letters(pending).await? {
        let mut v = serde_json::to_value(&letter).expect("a dead letter serialises");
        v.as_object_mut().expect("an object").remove("draft");
        println!("{v}");
    }
    Ok(())
}

async fn dead_letters_show(url: &str, id: i64) -> Result<(), CliError> {
    let store = crate::store::Store::open(url).await?;
    let letter = store
        .dead_letters(false)
        .await?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| CliError::Usage(format!("the store {} has no dead letter {id}", store.url())))?;
    let mut v = serde_json::to_value(&letter).expect("a dead letter serialises");
    v["draft"] = serde_json::from_str(&letter.draft).unwrap_or(serde_json::Value::String(letter.draft.clone()));
    println!("{}", serde_json::to_string_pretty(&v).expect("JSON serialises"));
    Ok(())
}

async fn status_cmd(args: StatusArgs) -> Result<(), CliError> {
    let store = crate::store::Store::open(&args.store).await?;
    let Some(name) = args.name else {
        let names = store.connectors_with_events().await?;
        if names.is_empty() {
            return Err(CliError::Usage(format!("the store {} has no lifecycle events yet", store.url())));
        }
        for name in names {
            let reduced = crate::lifecycle::reduce(&name, &store.events(&name).await?);
            let line = serde_json::json!({
                "connector": reduced.connector,
                "current_state": reduced.current_state,
                "since": reduced.transition_log.last().map(|(at, _, _)| at),
                "last_health_check": reduced.last_health_check,
                "sync": reduced.sync,
                "anomalies": reduced.anomalies.len(),
            });
            println!("{line}");
        }
        return Ok(());
    };
    let events = store.events(&name).await?;
    if events.is_empty() {
        return Err(CliError::Usage(format!("the store {} has no events of a connector `{name}`", store.url())));
    }
    let reduced = crate::lifecycle::reduce(&name, &events);
    println!("{}", serde_json::to_string_pretty(&reduced).expect("a reduced state serialises"));
    Ok(())
}

/// A cursor for the terminal: escaped, in backquotes; or what stands for none.
fn shown_cursor(c: &crate::store::StoredCursor) -> String {
    match &c.cursor {
        Some(text) => format!("`{}`", crate::untrusted::escape(text)),
        None => "none (the last run read the source to its end)".to_string(),
    }
}

async fn cursor_show(url: &str, name: &str) -> Result<(), CliError> {
    let store = crate::store::Store::open(url).await?;
    // The cursor alone on stdout (escaped: it is the guest's text), what it means on stderr.
    match store.stored_cursor(name).await? {
        Some(crate::store::StoredCursor { cursor: Some(cursor), updated_at }) => {
            println!("{}", crate::untrusted::escape(&cursor));
            eprintln!("connector `{name}`: cursor stored {updated_at}; its next run resumes there");
        }
        Some(crate::store::StoredCursor { cursor: None, updated_at }) => eprintln!(
            "connector `{name}`: its last run read the source to its end ({updated_at}); its next run starts from the beginning"
        ),
        None if store.knows(name).await? => {
            eprintln!("connector `{name}` has no stored cursor: its next run starts from the beginning");
        }
        None => return Err(CliError::Usage(format!("the store {} knows no connector `{name}`", store.url()))),
    }
    Ok(())
}

async fn cursor_reset(url: &str, name: &str, to: Option<&str>) -> Result<(), CliError> {
    if to == Some("") {
        return Err(CliError::Usage("--to: a cursor cannot be empty; without --to the cursor is cleared".into()));
    }
    let store = crate::store::Store::open(url).await?;
    if !store.knows(name).await? {
        return Err(CliError::Usage(format!("the store {} knows no connector `{name}`", store.url())));
    }
    let previous = store.reset_cursor(name, to, &crate::timestamp::now()).await?;
    let was = previous.as_ref().map_or_else(|| "no cursor".to_string(), shown_cursor);
    tracing::info!(connector = %name, "cursor reset (it was {was})");
    match to {
        None => eprintln!("connector `{name}`: cursor cleared (it was {was}); its next run starts from the beginning"),
        Some(to) => eprintln!(
            "connector `{name}`: cursor set to `{}` (it was {was}); its next run resumes there",
            crate::untrusted::escape(to)
        ),
    }
    Ok(())
}

async fn replay_cmd(args: ReplayArgs) -> Result<(), CliError> {
    let store = crate::store::Store::open(&args.store).await?;
    let r = crate::redeliver::redeliver(&store, args.connector.as_deref()).await?;
    eprintln!("replayed {} of {} dead letters; {} still refused", r.replayed, r.tried, r.still_refused);
    Ok(())
}

async fn queue_cmd(args: QueueArgs) -> Result<(), CliError> {
    let store = crate::store::Store::open(&args.store).await?;
    if let Some(seq) = args.ack {
        let (n, pruned) = store.ack(seq, std::time::SystemTime::now()).await?;
        if pruned > 0 {
            eprintln!(
                "acknowledged {n} entries up to {seq}; pruned {pruned} superseded entries acknowledged over {} days ago",
                crate::store::RETAIN_ACKED.as_secs() / 86_400
            );
        } else {
            eprintln!("acknowledged {n} entries up to {seq}");
        }
        return Ok(());
    }
    use std::io::Write;
    // Listening starts before the first read, so nothing committed in between is missed.
    let mut waiter = if args.follow { Some(store.queue_waiter().await) } else { None };
    let mut damaged = 0;
    let mut after = args.after;
    loop {
        let entries = store.queue(after, args.limit).await?;
        let mut out = std::io::stdout().lock();
        for e in &entries {
            if let Some(why) = &e.damaged {
                damaged += 1;
                let (id, why) = (crate::untrusted::Shown::id(&e.record_id), crate::untrusted::Shown::text(why));
                eprintln!("error: queue entry {} (record `{id}`): {why}", e.seq);
            }
            let line = serde_json::to_string(&e).expect("a queue entry serialises");
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(CliError::Io { what: "cannot write to standard output".into(), source: e });
            }
        }
        drop(out);
        after = entries.last().map_or(after, |e| e.seq);
        let Some(waiter) = &mut waiter else { break };
        // A full batch: more may be there already.
        if entries.len() as i64 >= args.limit {
            continue;
        }
        let poll = if store.kind() == crate::store::Kind::Postgres { 5 } else { 1 };
        waiter.wait(std::time::Duration::from_secs(poll)).await;
    }
    if damaged > 0 {
        return Err(CliError::Store(crate::store::StoreError::Damaged {
            url: store.url().to_string(),
            count: damaged,
        }));
    }
    Ok(())
}

async fn store_verify(url: &str) -> Result<(), CliError> {
    use crate::untrusted::Shown;
    let store = crate::store::Store::open(url).await?;
    let found = store.verify().await?;
    println!("{}", serde_json::to_string_pretty(&found).expect("a verification serialises"));
    if found.is_clean() {
        eprintln!("the store {} is sound: {} envelopes checked", store.url(), found.envelopes);
        return Ok(());
    }
    for problem in &found.structure {
        eprintln!("error: {}", crate::untrusted::escape(problem));
    }
    for (source, id, why) in &found.damaged {
        let (id, source, why) = (Shown::id(id), Shown::id(source), Shown::text(why));
        eprintln!("error: envelope `{id}` of `{source}`: {why}");
    }
    Err(CliError::Store(crate::store::StoreError::Damaged {
        url: store.url().to_string(),
        count: found.damaged_count + found.structure.len() as u64,
    }))
}

fn validate_cmd(path: &Path) -> Result<(), CliError> {
    let v = crate::envelope::validate::validate_file(path)
        .map_err(|source| CliError::Io { what: format!("cannot read {}", path.display()), source })?;
    for f in &v.findings {
        // The file's text in a finding is cut already; escaped here for the terminal.
        eprintln!("{}:{}: {}", path.display(), f.line, crate::untrusted::escape(&f.message));
    }
    if v.more_findings > 0 {
        eprintln!(
            "{}: {} more findings not shown (only the first {} are)",
            path.display(),
            v.more_findings,
            crate::envelope::validate::MAX_FINDINGS
        );
    }
    let invalid = v.envelopes - v.valid;
    eprintln!("{}: {} envelopes, {} valid, {} invalid", path.display(), v.envelopes, v.valid, invalid);
    if invalid > 0 { Err(CliError::Invalid(invalid)) } else { Ok(()) }
}
