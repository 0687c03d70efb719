//! The second containment pass (issue 11): connectors that attack the host through
//! what they return — drafts it cannot seal, calls that block in host calls, cursors
//! that loop, text meant for the operator's terminal or shell, lookups that break
//! the contract — and what the host must do about each. Every case asserts the bound
//! it is held to: time past the deadline, peak memory, bytes and lines written, the
//! exit code and the message.

mod deadlines;
mod lookup;
mod output;
mod sealing;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use tests::*;

const MIB: u64 = 1 << 20;
/// What the host process may use beyond the guest's memory cap (as in
/// tests/containment.rs): the runtime, the compiled component, buffers, and a page
/// of drafts lifted out of the guest.
const OVERHEAD: u64 = 160 * MIB;

/// A hostile connector set up in a scratch directory: `h.wasm` beside `h.toml`.
struct Hostile {
    dir: tempfile::TempDir,
    wasm: PathBuf,
}

/// What one `host` command left.
struct Ran {
    m: Measured,
    report: Option<Value>,
    /// The whole process, in milliseconds.
    wall_ms: f64,
}

impl Hostile {
    /// `config` and `limits` are TOML lines of the manifest's `[config]` and `[limits]`.
    fn new(config: &str, limits: &str) -> Hostile {
        let dir = scratch(&[("h.toml", &format!("name = \"hostile\"\n[config]\n{config}\n[limits]\n{limits}\n"))]);
        let wasm = place(HOSTILE_WASM, dir.path(), "h");
        Hostile { dir, wasm }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `host <sub> h.wasm <args>`.
    fn cmd(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = host(&self.path("cache"));
        cmd.arg(sub).arg(&self.wasm).args(args);
        cmd
    }

    /// `host run h.wasm --report r.json <args>`, measured.
    fn run(&self, args: &[&str]) -> Ran {
        let report = self.path("report.json");
        let _ = std::fs::remove_file(&report);
        let mut cmd = self.cmd("run", args);
        cmd.arg("--report").arg(&report);
        let ran = timed(&mut cmd);
        let report = std::fs::read(&report).ok().map(|b| serde_json::from_slice(&b).unwrap());
        Ran { report, ..ran }
    }

    fn store_url(&self) -> String {
        format!("sqlite:{}", self.path("state.db").display())
    }
}

/// Runs `cmd` to its end, timing it and measuring its peak memory.
fn timed(cmd: &mut Command) -> Ran {
    let started = Instant::now();
    let m = measured(cmd);
    Ran { m, report: None, wall_ms: started.elapsed().as_secs_f64() * 1e3 }
}

impl Ran {
    fn report(&self) -> &Value {
        self.report.as_ref().unwrap_or_else(|| panic!("no report; stderr:\n{}", self.m.stderr))
    }

    /// Asserts the exit code and that stderr holds `fragment`.
    fn ends(&self, code: i32, fragment: &str) -> &Ran {
        assert_eq!(self.m.code, Some(code), "exit code; stderr:\n{}", self.m.stderr);
        assert!(self.m.stderr.contains(fragment), "expected `{fragment}` in:\n{}", self.m.stderr);
        self
    }

    fn peak_within(&self, cap_mib: u64, what: &str) -> &Ran {
        assert!(
            self.m.peak_rss <= cap_mib * MIB + OVERHEAD,
            "{what}: the host reached {} MiB, more than the cap {cap_mib} MiB + {} MiB",
            self.m.peak_rss / MIB,
            OVERHEAD / MIB
        );
        println!("{what}: peak RSS {} MiB (bound {} MiB)", self.m.peak_rss / MIB, cap_mib + OVERHEAD / MIB);
        self
    }
}

/// The file connector in a scratch directory, reading `feed` (JSON Lines with an
/// `id` in each) from its granted `/feeds/f.jsonl`: `file.wasm` beside `file.toml`.
fn file_connector(feed: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch(&[
        (
            "file.toml",
            "name = \"file\"\nsource = \"feed\"\n[config]\npath = \"/feeds/f.jsonl\"\nid_field = \"id\"\n\
             record_type = \"claim\"\nsource_instance = \"feed\"\n[[dirs]]\nhost = \"feeds\"\nguest = \"/feeds\"\n",
        ),
        ("feeds/f.jsonl", feed),
    ]);
    let wasm = place(FILE_WASM, dir.path(), "file");
    (dir, wasm)
}

/// `host validate` accepts every line of `file`.
fn validates(cache: &Path, file: &Path) {
    let out = output(host(cache).arg("validate").arg(file));
    assert!(out.status.success(), "host validate refused what the host wrote:\n{}", stderr(&out));
}
