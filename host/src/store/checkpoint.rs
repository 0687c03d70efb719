//! Checkpoints of the WAL, on a connection and a thread of their own.
//!
//! A checkpoint copies committed pages from the WAL into the database file. Left to
//! SQLite's automatic checkpoints, the COMMIT that filled the WAL to its limit
//! copied the whole of it, on the committing thread, while the ingest waited. Here
//! the store nudges this thread after each commit, and it copies that commit's
//! pages while the next page is being written: a PASSIVE checkpoint never waits for
//! the writer, nor the writer for it. Since the checkpoint usually catches up before
//! the next commit, SQLite rewinds the WAL to its start at that commit, so the WAL
//! stays a page or two long. The writer's own automatic checkpoints
//! (`wal_autocheckpoint`) remain as the backstop should this thread fall behind.

use std::sync::mpsc::{Receiver, SyncSender};

use super::prepared::Connection;

/// What the thread is asked for.
enum Ask {
    /// A PASSIVE checkpoint of what was just committed.
    Nudge,
    /// A TRUNCATE checkpoint (everything moved, the WAL file emptied); the answer
    /// says whether it was done.
    Truncate(SyncSender<bool>),
}

/// Nudges the checkpoint thread; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct Checkpointer {
    nudge: SyncSender<Ask>,
}

impl Checkpointer {
    /// Starts the thread, checkpointing on `conn`.
    pub fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (nudge, nudged) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new().name("checkpointer".into()).spawn(move || run(&conn, &nudged))?;
        Ok(Checkpointer { nudge })
    }

    /// Asks for a checkpoint (one already asked for and not yet begun covers this).
    pub fn nudge(&self) {
        let _ = self.nudge.try_send(Ask::Nudge);
    }

    /// Moves the whole WAL into the database and empties the WAL file, on this
    /// thread's connection (so it never races a checkpoint of its own); blocks until
    /// done. Whether it was done: not when another connection is reading an older
    /// snapshot or writing.
    pub fn truncate(&self) -> bool {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if self.nudge.send(Ask::Truncate(reply)).is_err() {
            return false;
        }
        answer.recv().unwrap_or(false)
    }
}

/// Checkpoints on each nudge until the store is dropped.
fn run(conn: &Connection, nudged: &Receiver<Ask>) {
    while let Ok(ask) = nudged.recv() {
        match ask {
            Ask::Nudge => {
                if let Err(e) = conn.exec(c"PRAGMA wal_checkpoint(PASSIVE)") {
                    // Harmless: the writer's automatic checkpoints take over.
                    tracing::debug!("a background checkpoint of the store failed: {}", e.message);
                }
            }
            Ask::Truncate(reply) => {
                let done = conn.checkpoint_truncate();
                if let Err(e) = &done {
                    tracing::debug!("the store's WAL was not truncated: {}", e.message);
                }
                let _ = reply.send(done.is_ok());
            }
        }
    }
}
