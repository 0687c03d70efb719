//! Where sealed envelopes go: JSON Lines on stdout or in a file.
//!
//! A page is written whole or not at all: the envelopes of a page go out in one
//! write, and when that write fails part-way into a file (a full disk), the file is
//! cut back to where the page began, so it never ends in a torn line and holds
//! exactly the envelopes the report counts as published.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::Path;

/// A writer of JSON Lines envelopes, written a page at a time.
pub struct JsonlSink {
    out: Box<dyn Write + Send>,
    /// For a file: a handle to cut it back with, and its length after the last
    /// page written whole.
    file: Option<(File, u64)>,
}

impl JsonlSink {
    /// Envelopes to standard output.
    pub fn stdout() -> JsonlSink {
        JsonlSink::new(Box::new(io::stdout()))
    }

    /// Envelopes to the file at `path` (created or truncated).
    pub fn file(path: &Path) -> io::Result<JsonlSink> {
        JsonlSink::of_file(File::create(path)?)
    }

    /// Envelopes appended to the file at `path` (created if missing): a daemon's
    /// runs add to one file.
    pub fn append(path: &Path) -> io::Result<JsonlSink> {
        JsonlSink::of_file(std::fs::OpenOptions::new().create(true).append(true).open(path)?)
    }

    fn of_file(mut file: File) -> io::Result<JsonlSink> {
        let len = file.seek(io::SeekFrom::End(0))?;
        let handle = file.try_clone()?;
        Ok(JsonlSink { out: Box::new(file), file: Some((handle, len)) })
    }

    /// Envelopes to any writer.
    pub fn new(out: Box<dyn Write + Send>) -> JsonlSink {
        JsonlSink { out, file: None }
    }

    /// Writes one page of envelope lines and flushes it, so that a page is out
    /// whole before the next one is read. On failure a file is cut back to the end
    /// of the page before.
    pub fn write_page(&mut self, lines: &[u8]) -> io::Result<()> {
        let written = self.out.write_all(lines).and_then(|()| self.out.flush());
        match (&written, &mut self.file) {
            (Ok(()), Some((_, len))) => *len += lines.len() as u64,
            // Best effort: a device (`/dev/full`) cannot be cut, and has no lines to tear.
            (Err(_), Some((file, len))) if file.metadata().is_ok_and(|m| m.is_file()) => {
                let _ = file.set_len(*len);
                let _ = file.seek(io::SeekFrom::Start(*len));
            }
            _ => {}
        }
        written
    }
}
