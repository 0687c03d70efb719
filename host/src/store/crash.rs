//! Named crash points, for the test that proves a crash anywhere loses nothing and
//! publishes nothing twice (`tests/tests/all/store.rs`).
//!
//! In a debug build, `HOST_CRASH_AT=<point>:<n>` (read once, at the first point
//! reached) makes the process kill itself with SIGKILL the `n`-th time (from 1) it
//! reaches `<point>`: no destructor, no `atexit`, no SQLite rollback or
//! checkpoint runs, exactly as when an operator or the OOM killer sends SIGKILL.
//! The points are [`POINTS`]. A release build has no crash points: [`point`]
//! compiles to nothing and the variable is ignored.

/// Every crash point, in the order a page meets them.
pub const POINTS: &[&str] = &[
    // The run loop, about to call the guest for a page (the fetch).
    "guest-call",
    // The run loop, the guest's page in hand, before the sealer has it.
    "guest-returned",
    // The sealer, half-way through a page's drafts.
    "sealing",
    // In a page's transaction, after half of its records were written.
    "store-rows",
    // In a page's transaction, after its cursor and state were written, before COMMIT.
    "store-cursor",
    // Right after a page's COMMIT returned.
    "store-committed",
];

/// Marks crash point `name` (one of [`POINTS`]).
#[inline]
pub fn point(name: &'static str) {
    debug_assert!(POINTS.contains(&name), "unknown crash point {name}");
    #[cfg(debug_assertions)]
    armed::reached(name);
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static PASSES: AtomicU64 = AtomicU64::new(0);

    pub(super) fn reached(name: &str) {
        let target = TARGET.get_or_init(|| {
            let spec = std::env::var("HOST_CRASH_AT").ok()?;
            let (point, n) = spec.rsplit_once(':')?;
            assert!(super::POINTS.contains(&point), "HOST_CRASH_AT names no crash point: {spec}");
            Some((point.to_string(), n.parse().expect("HOST_CRASH_AT=<point>:<n>")))
        });
        if let Some((point, n)) = target
            && point == name
            && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *n
        {
            kill_self();
        }
    }

    #[allow(unsafe_code)]
    fn kill_self() -> ! {
        // SAFETY: kill(2) and getpid(2) have no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL to oneself is delivered before kill(2) returns; never reached.
        loop {
            std::thread::park();
        }
    }
}
