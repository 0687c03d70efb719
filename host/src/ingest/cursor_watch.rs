//! The cursors a run's pages return, watched so that a connector cannot page for ever.

use crate::contract::DraftPage;
use crate::report::{FailureKind, RunError};
use crate::untrusted::Shown;

/// Watches the cursors a run's pages return, so that a connector cannot page for
/// ever: a cursor returned twice in one run (a cycle `A → B → A`, not only the
/// cursor a page was given), a cursor longer than `limits.max_cursor_bytes` (one
/// that grows page after page), or more than `limits.max_empty_pages` empty pages in
/// a row each with a next cursor, ends the run with an error.
pub(super) struct CursorWatch<'a> {
    connector: &'a str,
    max_bytes: usize,
    max_empty: u32,
    empty_in_a_row: u32,
    /// A hash of every cursor of this run (a cursor may be long; 8 bytes a page).
    /// The hasher is keyed at random, so a guest cannot aim for a collision.
    seen: std::collections::HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
}

impl<'a> CursorWatch<'a> {
    pub(super) fn new(connector: &'a str, limits: &crate::manifest::Limits, start: Option<&str>) -> CursorWatch<'a> {
        let mut watch = CursorWatch {
            connector,
            max_bytes: limits.max_cursor_bytes,
            max_empty: limits.max_empty_pages,
            empty_in_a_row: 0,
            seen: Default::default(),
            hasher: Default::default(),
        };
        if let Some(c) = start {
            watch.seen.insert(std::hash::BuildHasher::hash_one(&watch.hasher, c));
        }
        watch
    }

    /// Checks the page that `given` asked for.
    pub(super) fn check(&mut self, page: &DraftPage, given: Option<&str>) -> Result<(), RunError> {
        let Some(next) = page.next_cursor.as_deref() else { return Ok(()) };
        let fail = |what: String| {
            RunError::new(
                FailureKind::ConnectorError,
                format!("connector `{}`: list-drafts {what}; stopping instead of looping", self.connector),
            )
        };
        if next.len() > self.max_bytes {
            return Err(RunError::new(
                FailureKind::LimitExceeded,
                format!(
                    "connector `{}`: list-drafts returned a cursor of {} bytes, more than limits.max_cursor_bytes ({})",
                    self.connector,
                    next.len(),
                    self.max_bytes
                ),
            ));
        }
        if Some(next) == given {
            return Err(fail(format!("returned the cursor it was given (`{}`)", Shown::id(next))));
        }
        if !self.seen.insert(std::hash::BuildHasher::hash_one(&self.hasher, next)) {
            return Err(fail(format!(
                "returned the cursor `{}`, which an earlier page of this run returned",
                Shown::id(next)
            )));
        }
        if page.drafts.is_empty() && page.skipped.is_empty() {
            self.empty_in_a_row += 1;
            if self.empty_in_a_row > self.max_empty {
                return Err(fail(format!(
                    "returned {} empty pages in a row, each with a next cursor (limits.max_empty_pages: {})",
                    self.empty_in_a_row, self.max_empty
                )));
            }
        } else {
            self.empty_in_a_row = 0;
        }
        Ok(())
    }
}
