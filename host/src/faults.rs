//! Named crash points, for the test that proves a crash anywhere loses nothing and
//! publishes nothing twice (`tests/tests/all/store.rs`).
//!
//! In a debug build, `HOST_CRASH_AT=<point>:<n>` (read once, at the first point
//! reached) makes the process kill itself with SIGKILL the `n`-th time (from 1) it
//! reaches `<point>`: no destructor, no `atexit`, no SQLite rollback or
//! checkpoint runs, exactly as when an operator or the OOM killer sends SIGKILL.
//! `HOST_STOP_AT=<point>:<n>` sends SIGSTOP instead: the whole process freezes
//! there (a VM paused, a laptop lid closed) until it is sent SIGCONT, for the
//! test that a host paused inside a page's transaction commits nothing of it.
//! The points are [`CrashPoint::ALL`]. A release build has no crash points:
//! [`point`] compiles to nothing and the variable is ignored.

/// A place where a page can be cut short by a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// The run loop, about to call the guest for a page (the fetch).
    GuestCall,
    /// The run loop, the guest's page in hand, before the sealer has it.
    GuestReturned,
    /// The sealer, half-way through a page's drafts.
    Sealing,
    /// In a page's transaction, after half of its records were written.
    StoreRows,
    /// In a page's transaction, after its cursor and state were written, before COMMIT.
    StoreCursor,
    /// Right after a page's COMMIT returned.
    StoreCommitted,
}

impl CrashPoint {
    /// Every crash point, in the order a page meets them.
    pub const ALL: [CrashPoint; 6] = [
        CrashPoint::GuestCall,
        CrashPoint::GuestReturned,
        CrashPoint::Sealing,
        CrashPoint::StoreRows,
        CrashPoint::StoreCursor,
        CrashPoint::StoreCommitted,
    ];

    /// Its name in `HOST_CRASH_AT` (`store-rows`).
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::GuestCall => "guest-call",
            CrashPoint::GuestReturned => "guest-returned",
            CrashPoint::Sealing => "sealing",
            CrashPoint::StoreRows => "store-rows",
            CrashPoint::StoreCursor => "store-cursor",
            CrashPoint::StoreCommitted => "store-committed",
        }
    }
}

/// Marks crash point `at`.
#[inline]
pub fn point(at: CrashPoint) {
    #[cfg(debug_assertions)]
    armed::reached(at);
    #[cfg(not(debug_assertions))]
    let _ = at;
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::CrashPoint;

    /// The point, the pass at which to act, and the signal to send oneself.
    static TARGET: OnceLock<Option<(CrashPoint, u64, i32)>> = OnceLock::new();
    static PASSES: AtomicU64 = AtomicU64::new(0);

    pub(super) fn reached(at: CrashPoint) {
        let target = TARGET.get_or_init(|| {
            let (var, signal) = [("HOST_CRASH_AT", libc::SIGKILL), ("HOST_STOP_AT", libc::SIGSTOP)]
                .into_iter()
                .find(|(var, _)| std::env::var_os(var).is_some())?;
            let spec = std::env::var(var).ok()?;
            let (name, n) = spec.rsplit_once(':')?;
            let point = CrashPoint::ALL.into_iter().find(|p| p.name() == name);
            let point = point.unwrap_or_else(|| panic!("{var} names no crash point: {spec}"));
            Some((point, n.parse().unwrap_or_else(|_| panic!("{var}=<point>:<n>")), signal))
        });
        if let Some((point, n, signal)) = *target
            && point == at
            && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == n
        {
            signal_self(signal);
        }
    }

    #[allow(unsafe_code)]
    fn signal_self(signal: i32) {
        // SAFETY: kill(2) and getpid(2) have no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), signal);
        }
        // SIGKILL to oneself is delivered before kill(2) returns; a SIGSTOP
        // returns here once someone sends SIGCONT, and the page goes on.
    }
}
