//! The `host` binary: parses arguments, runs the command, maps errors to exit codes.

use clap::Parser;

// Sealing allocates and frees many small strings, and frees on one thread what the
// guest's thread allocated; mimalloc handles both much better than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = host::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(host::secrets::RedactingWriter::new)
        // No colours: every log line is escaped whole (guest text may sit in any
        // field), which would escape the formatter's own colour codes too.
        .with_ansi(false)
        .with_env_filter(EnvFilter::try_from_env("HOST_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("starting the async runtime");
    if let Err(e) = runtime.block_on(host::cli::run(cli)) {
        // The message may quote a guest's text: redacted, and escaped for the terminal.
        let message = format!("{e:#}");
        eprintln!("error: {}", host::untrusted::escape(&host::secrets::redact(&message)));
        std::process::exit(e.exit_code());
    }
}
