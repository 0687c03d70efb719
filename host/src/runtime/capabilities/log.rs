//! `partner:connector/log`, and the guest's stdout and stderr.
//!
//! Everything a guest writes ends up in the host's log (target `guest`), attributed
//! to its connector. A guest is hostile until proven otherwise, so every line is
//! rate-limited (a token bucket), truncated, and stripped of control characters
//! that could rewrite the operator's terminal.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::AsyncWrite;

use crate::manifest::Limits;
use crate::runtime::bindings::v1::partner::connector::log::{self, Level};

/// The guest's log: one per run, shared by the `log` import and stdout/stderr.
pub struct LogCap {
    inner: Arc<Mutex<GuestLogger>>,
}

impl LogCap {
    /// A log for `connector` bounded by `limits`.
    pub fn new(connector: Arc<str>, limits: &Limits) -> LogCap {
        let per_second = f64::from(limits.log_lines_per_second);
        LogCap {
            inner: Arc::new(Mutex::new(GuestLogger {
                connector,
                max_line: limits.log_line_bytes,
                per_second,
                tokens: per_second * 2.0,
                refilled: Instant::now(),
                dropped: 0,
                written: 0,
            })),
        }
    }

    /// A stream for the guest's stdout (`stderr: false`) or stderr, writing into this log.
    pub fn stdio(&self, stderr: bool) -> GuestOutput {
        GuestOutput { log: self.inner.clone(), stderr, pending: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Lines written and lines dropped by the rate limit so far.
    pub fn counts(&self) -> (u64, u64) {
        let l = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (l.written, l.dropped)
    }
}

impl log::Host for LogCap {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).line(level, "log", message.as_bytes());
        Ok(())
    }
}

struct GuestLogger {
    connector: Arc<str>,
    max_line: usize,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
    dropped: u64,
    written: u64,
}

impl GuestLogger {
    fn line(&mut self, level: Level, stream: &'static str, bytes: &[u8]) {
        let now = Instant::now();
        let burst = self.per_second * 2.0;
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * self.per_second).min(burst);
        self.refilled = now;
        if self.tokens < 1.0 {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(target: "guest", connector = %self.connector, dropped = self.dropped,
                    "guest log lines dropped by the rate limit (limits.log_lines_per_second)");
            }
            return;
        }
        self.tokens -= 1.0;
        self.written += 1;
        let text = crate::untrusted::sanitize(bytes, self.max_line);
        let c = &*self.connector;
        match level {
            Level::Trace => tracing::trace!(target: "guest", connector = c, stream, "{text}"),
            Level::Debug => tracing::debug!(target: "guest", connector = c, stream, "{text}"),
            Level::Info => tracing::info!(target: "guest", connector = c, stream, "{text}"),
            Level::Warn => tracing::warn!(target: "guest", connector = c, stream, "{text}"),
            Level::Error => tracing::error!(target: "guest", connector = c, stream, "{text}"),
        }
    }
}

/// The guest's stdout or stderr: split into lines, each logged like a `log` call
/// (`info` for stdout, `warn` for stderr). Writes never fail, so a guest's `println!`
/// cannot panic because the host dropped its output.
#[derive(Clone)]
pub struct GuestOutput {
    log: Arc<Mutex<GuestLogger>>,
    stderr: bool,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    fn accept(&self, mut buf: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let (level, stream) = if self.stderr { (Level::Warn, "stderr") } else { (Level::Info, "stdout") };
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            if pending.is_empty() {
                log.line(level, stream, &buf[..nl]);
            } else {
                pending.extend_from_slice(&buf[..nl]);
                log.line(level, stream, &pending);
                pending.clear();
            }
            buf = &buf[nl + 1..];
        }
        // Keep at most one line's worth of an unterminated line; the rest is cut anyway.
        let room = log.max_line.saturating_sub(pending.len());
        pending.extend_from_slice(&buf[..buf.len().min(room)]);
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
