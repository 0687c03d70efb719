//! Where sealed envelopes go: JSON Lines on stdout or in a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A writer of JSON Lines envelopes, written a page at a time.
pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
}

impl JsonlSink {
    /// Envelopes to standard output.
    pub fn stdout() -> JsonlSink {
        JsonlSink::new(Box::new(io::stdout()))
    }

    /// Envelopes to the file at `path` (created or truncated).
    pub fn file(path: &Path) -> io::Result<JsonlSink> {
        Ok(JsonlSink::new(Box::new(File::create(path)?)))
    }

    /// Envelopes appended to the file at `path` (created if missing): a daemon's
    /// runs add to one file.
    pub fn append(path: &Path) -> io::Result<JsonlSink> {
        Ok(JsonlSink::new(Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?)))
    }

    /// Envelopes to any writer.
    pub fn new(out: Box<dyn Write + Send>) -> JsonlSink {
        JsonlSink { out: BufWriter::with_capacity(1 << 20, out) }
    }

    /// Writes one page of envelope lines and flushes it, so that a page is out
    /// whole before the next one is read.
    pub fn write_page(&mut self, lines: &[u8]) -> io::Result<()> {
        self.out.write_all(lines)?;
        self.out.flush()
    }
}
