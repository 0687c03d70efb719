//! A connection of our own through SQLite's C API, for the work of a page commit,
//! where the store runs statements per record, and for checkpoints.
//!
//! sqlx hands every statement and every bound value to a worker thread of the
//! connection's: each text value is copied into an `Arc<String>`, copied again by
//! SQLite, and freed twice, and every statement costs a thread wake-up each way
//! (on a machine whose cores are busy with the guest and the sealer, each wake-up
//! waits for a core). For a page of big envelopes that cost more than SQLite spent
//! storing them, and it forced many-row statements, where an upsert cannot tell
//! which of its rows changed. Here the committing thread runs the statements
//! itself: a statement is prepared once, kept by its connection, and run once per
//! record with its values bound in place (`SQLITE_STATIC`: SQLite reads the
//! caller's bytes and copies nothing), and `sqlite3_changes64` says after each run
//! whether it inserted or updated a row.
//!
//! The SQL is the store's ordinary portable SQL; only the way the values reach it
//! is SQLite's. The unsafe code is confined to this file and its API is safe: a
//! statement borrows its connection, so it cannot outlive it; a connection is used
//! by one thread at a time (it is `Send`, not `Sync`); and [`Statement::execute`]
//! clears its bindings before it returns, so SQLite never holds a pointer into a
//! value after the borrow of that value ends.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::time::Duration;

use libsqlite3_sys as ffi;

/// A call failed; what SQLite said (`database or disk is full`, `attempt to write a
/// readonly database`).
#[derive(Debug)]
pub struct Failure {
    /// SQLite's message.
    pub message: String,
}

/// An open connection, closed on drop.
pub struct Connection {
    db: NonNull<ffi::sqlite3>,
    /// Statements prepared before and not in use, by their SQL: the many-row
    /// statements of a page commit took longer to parse than to run.
    cache: RefCell<HashMap<String, NonNull<ffi::sqlite3_stmt>>>,
}

// SAFETY: the connection is opened with SQLITE_OPEN_NOMUTEX ("multi-thread" mode),
// in which a connection may be used from any thread provided no two threads use it
// at once. `Connection` is not `Sync`, its statements are neither `Send` nor `Sync`
// and borrow it, so only the thread that owns it (or holds the lock it is kept
// behind) can reach it.
unsafe impl Send for Connection {}

impl Connection {
    /// Opens the database `file` (created already), read-only when `read_only`,
    /// then runs `setup` (its `PRAGMA`s).
    pub fn open(file: &str, read_only: bool, busy_timeout: Duration, setup: &str) -> Result<Connection, Failure> {
        let path = CString::new(file).map_err(|_| Failure { message: format!("{file:?} holds a NUL byte") })?;
        let access = if read_only { ffi::SQLITE_OPEN_READONLY } else { ffi::SQLITE_OPEN_READWRITE };
        let mut raw = std::ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; `raw` is a valid out-pointer; no VFS name.
        let rc = unsafe {
            ffi::sqlite3_open_v2(path.as_ptr(), &mut raw, access | ffi::SQLITE_OPEN_NOMUTEX, std::ptr::null())
        };
        // Even on failure SQLite allocates a handle (to carry the error), to be closed.
        let conn = NonNull::new(raw).map(|db| Connection { db, cache: RefCell::default() });
        let Some(conn) = conn else { return Err(Failure { message: "out of memory opening the store".into() }) };
        if rc != ffi::SQLITE_OK {
            return Err(conn.failure());
        }
        let ms = i32::try_from(busy_timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `db` is open and owned by this thread.
        unsafe { ffi::sqlite3_busy_timeout(conn.db.as_ptr(), ms) };
        let setup = CString::new(setup).expect("the store's PRAGMAs hold no NUL");
        conn.exec(&setup)?;
        Ok(conn)
    }

    /// Prepares `sql` (one statement; parameters `$1`, `$2`, … bound by position),
    /// or takes it from the statements prepared before; it goes back to them when
    /// dropped.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>, Failure> {
        if let Some(raw) = self.cache.borrow_mut().remove(sql) {
            return Ok(Statement { raw, conn: self, sql: sql.to_string() });
        }
        let len = i32::try_from(sql.len()).expect("a statement of the store is short");
        let mut raw = std::ptr::null_mut();
        // SAFETY: `db` is open and used by this thread only; `sql` is valid for
        // `len` bytes (it need not be NUL-terminated when the length is given);
        // `raw` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut raw,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.failure());
        }
        let raw = NonNull::new(raw).expect("a non-empty statement was prepared");
        Ok(Statement { raw, conn: self, sql: sql.to_string() })
    }

    /// Runs `sql`, statements without parameters (`BEGIN`, `PRAGMA …`).
    pub fn exec(&self, sql: &CStr) -> Result<(), Failure> {
        // SAFETY: `db` is open and used by this thread only; `sql` is NUL-terminated;
        // no callback and no error-message out-pointer are passed.
        let rc = unsafe {
            ffi::sqlite3_exec(self.db.as_ptr(), sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut())
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.failure());
        }
        Ok(())
    }

    /// A TRUNCATE checkpoint: every frame of the WAL moved into the database and the
    /// WAL file emptied. Fails with SQLite's `SQLITE_BUSY` message when a reader of
    /// an older snapshot or a writer was in the way (past the busy timeout).
    pub fn checkpoint_truncate(&self) -> Result<(), Failure> {
        let (mut log, mut moved) = (0, 0);
        // SAFETY: `db` is open and used by this thread only; a null database name
        // means every attached database; the out-pointers are valid for the call.
        let rc = unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                self.db.as_ptr(),
                std::ptr::null(),
                ffi::SQLITE_CHECKPOINT_TRUNCATE,
                &mut log,
                &mut moved,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.failure());
        }
        Ok(())
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE`: the write lock is taken now,
    /// waiting out another connection's write within the busy timeout, so the
    /// transaction cannot fail half-way for want of it). It is rolled back when the
    /// returned guard is dropped without [`Transaction::commit`].
    pub fn begin(&self) -> Result<Transaction<'_>, Failure> {
        self.exec(c"BEGIN IMMEDIATE")?;
        Ok(Transaction { conn: self, committed: false })
    }

    fn failure(&self) -> Failure {
        // SAFETY: `db` is open; `sqlite3_errmsg` returns a NUL-terminated string
        // owned by SQLite, valid until the next call on the connection; it is copied
        // before then.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db.as_ptr())) };
        Failure { message: message.to_string_lossy().into_owned() }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: `db` is open; the statements in the cache are its own and unused
        // (a statement in use borrows the connection, so none is); each is
        // finalized once, and then the connection, which has no other statements,
        // is closed.
        unsafe {
            for (_, raw) in self.cache.get_mut().drain() {
                ffi::sqlite3_finalize(raw.as_ptr());
            }
            ffi::sqlite3_close(self.db.as_ptr());
        }
    }
}

/// An open transaction of a [`Connection`].
pub struct Transaction<'c> {
    conn: &'c Connection,
    committed: bool,
}

impl Transaction<'_> {
    /// Commits it (or, when COMMIT fails, rolls it back).
    pub fn commit(mut self) -> Result<(), Failure> {
        self.conn.exec(c"COMMIT")?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // SAFETY: `db` is open and used by this thread only.
        let in_transaction = unsafe { ffi::sqlite3_get_autocommit(self.conn.db.as_ptr()) } == 0;
        // SQLite may have rolled back already (it does on a full disk, for one).
        if !self.committed && in_transaction {
            let _ = self.conn.exec(c"ROLLBACK");
        }
    }
}

/// A prepared statement; back to its connection's cache when dropped.
pub struct Statement<'c> {
    raw: NonNull<ffi::sqlite3_stmt>,
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    /// Runs the statement once with `params` bound to `$1`, `$2`, … (each UTF-8
    /// text, or NULL); returns how many rows it inserted, updated or deleted (an
    /// upsert whose `DO UPDATE … WHERE` is false, or a `DO NOTHING`, changes none).
    pub fn execute(&mut self, params: &[Option<&[u8]>]) -> Result<u64, Failure> {
        self.run(params, &mut |_, _| {})
    }

    /// Runs the statement once with `params` bound, and calls `row` with the text
    /// of the first two columns of each row it returns.
    pub fn query(&mut self, params: &[Option<&[u8]>], mut row: impl FnMut(&[u8], &[u8])) -> Result<(), Failure> {
        self.run(params, &mut row).map(|_| ())
    }

    fn run(&mut self, params: &[Option<&[u8]>], row: &mut dyn FnMut(&[u8], &[u8])) -> Result<u64, Failure> {
        let stmt = self.raw.as_ptr();
        let db = self.conn.db.as_ptr();
        let mut rc = ffi::SQLITE_OK;
        for (i, value) in params.iter().enumerate() {
            let Some(value) = value else { continue }; // unbound parameters are NULL
            // SAFETY: `stmt` is a live statement of `db`; the value's bytes stay
            // valid and unchanged until `sqlite3_clear_bindings` below, which runs
            // before this function returns, on every path (SQLITE_STATIC: SQLite
            // reads them in place instead of copying).
            rc = unsafe {
                ffi::sqlite3_bind_text64(
                    stmt,
                    i as i32 + 1,
                    value.as_ptr().cast(),
                    value.len() as u64,
                    ffi::SQLITE_STATIC(),
                    ffi::SQLITE_UTF8 as u8,
                )
            };
            if rc != ffi::SQLITE_OK {
                break;
            }
        }
        let mut changed = 0;
        if rc == ffi::SQLITE_OK {
            loop {
                // SAFETY: `stmt` is live and every parameter is bound.
                rc = unsafe { ffi::sqlite3_step(stmt) };
                if rc != ffi::SQLITE_ROW {
                    break;
                }
                // SAFETY: `stmt` has a row; each column's text stays valid until the
                // next step, and the slices cannot outlive the call of `row`.
                let (a, b) = unsafe { (column_text(stmt, 0), column_text(stmt, 1)) };
                row(a, b);
            }
            if rc == ffi::SQLITE_DONE {
                // SAFETY: `db` is open; this reads a counter of the last statement.
                changed = unsafe { ffi::sqlite3_changes64(db) } as u64;
            }
        }
        let failure = (rc != ffi::SQLITE_DONE).then(|| self.conn.failure());
        // SAFETY: `stmt` is live. Resetting makes it runnable again; clearing drops
        // SQLite's pointers into `params` before their borrow ends.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(changed),
        }
    }
}

/// The text of column `i` of the current row (empty for NULL).
///
/// # Safety
/// `stmt` must have a current row, and the slice must not be used after the next
/// step, reset or finalization of `stmt`.
unsafe fn column_text<'r>(stmt: *mut ffi::sqlite3_stmt, i: i32) -> &'r [u8] {
    // SAFETY: per the contract; `sqlite3_column_bytes` after `sqlite3_column_text`
    // gives the length of that text.
    unsafe {
        let text = ffi::sqlite3_column_text(stmt, i);
        if text.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(text, ffi::sqlite3_column_bytes(stmt, i) as usize)
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // Reset and cleared after every run, it is ready for the next user. Should
        // the same SQL be in the cache already (two were in use at once), this one
        // is finalized: `raw` was prepared on the connection, which is still open
        // (the statement borrows it), and leaves the cache or is finalized once.
        let sql = std::mem::take(&mut self.sql);
        if let Some(extra) = self.conn.cache.borrow_mut().insert(sql, self.raw) {
            // SAFETY: as above; `extra` is no longer in the cache.
            unsafe {
                ffi::sqlite3_finalize(extra.as_ptr());
            }
        }
    }
}
