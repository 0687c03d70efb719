//! Where a secret's value comes from: the host's environment, a file (a mounted
//! secret), a credential helper command, or the first of a chain of those that
//! yields a value.
//!
//! Every value is trimmed and checked ([`super::check_value`]) whatever its source.
//! A helper runs with no shell, its argv as written, stdin closed, the host's
//! environment and the manifest's directory as its working directory, under a
//! timeout, through `tokio::process` (no async worker waits on it); at most
//! [`MAX_OUTPUT`] bytes of its stdout are read, and its stderr is counted, never
//! logged or quoted (a failing helper may well print the secret it failed to
//! deliver).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;

/// The most bytes of a secret file, or of a helper's stdout, the host reads.
pub const MAX_OUTPUT: u64 = 64 << 10;

/// A helper's timeout when `timeout_ms` is not given.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A secret's source.
#[derive(Clone, Debug)]
pub enum Source {
    /// An environment variable, read when the manifest was loaded.
    Env {
        /// Its name.
        var: String,
        /// Its value then, if it was set.
        value: Option<String>,
    },
    /// A file, read again whenever it changes.
    File {
        /// The path, resolved against the manifest's directory.
        path: PathBuf,
    },
    /// A credential helper: its stdout is the value.
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
        /// How long it may take.
        timeout: Duration,
        /// Its working directory (the manifest's).
        dir: PathBuf,
    },
    /// The first of these that yields a value.
    Chain(Vec<Source>),
}

/// When and how big a file was: a change in any means it is read again (a
/// Kubernetes secret volume swaps a symlink, which changes the inode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    /// The stamp of `path` now, following symlinks.
    pub fn of(path: &Path) -> std::io::Result<Stamp> {
        Ok(Stamp::from_metadata(&std::fs::metadata(path)?))
    }

    fn from_metadata(m: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp { modified: m.modified().ok(), len: m.len(), inode: m.ino() }
    }
}

/// A value a source yielded.
#[derive(Clone)]
pub struct Resolved {
    /// The value, trimmed and checked.
    pub value: String,
    /// For a file, its path and stamp when read.
    pub stamp: Option<(PathBuf, Stamp)>,
    /// Whether resolving again may give another value (a helper), so that a 401
    /// is worth resolving again for.
    pub refreshable: bool,
}

impl Source {
    /// The key of this source under its secret's key (`from_env`, …).
    pub fn key(&self) -> &'static str {
        match self {
            Source::Env { .. } => "from_env",
            Source::File { .. } => "from_file",
            Source::Command { .. } => "from_command",
            Source::Chain(_) => "chain",
        }
    }

    /// What it is, safe to show (never a value).
    pub fn shown(&self) -> String {
        match self {
            Source::Env { var, .. } => var.clone(),
            Source::File { path } => format!("file {}", path.display()),
            Source::Command { argv, .. } => format!("command {}", argv[0]),
            Source::Chain(all) => format!("chain of {}", all.len()),
        }
    }

    /// Resolves the value; `key` is this source's manifest key (`http.secrets[0]`
    /// or `….oauth2.client_secret`), and every error names the key under it.
    pub async fn resolve(&self, key: &str) -> Result<Resolved, String> {
        let here = format!("{key}.{}", self.key());
        match self {
            Source::Env { var, value } => match value {
                Some(v) => checked(&here, v.trim()).map(|value| Resolved { value, stamp: None, refreshable: false }),
                None => Err(format!("`{here}` names {var}, but that environment variable is not set")),
            },
            Source::File { path } => {
                let path2 = path.clone();
                let read = tokio::task::spawn_blocking(move || read_file(&path2))
                    .await
                    .map_err(|e| format!("`{here}`: reading {} failed: {e}", path.display()))?;
                let (text, stamp) = read.map_err(|m| format!("`{here}`: {m}"))?;
                let value = checked(&here, &text)?;
                Ok(Resolved { value, stamp: Some((path.clone(), stamp)), refreshable: false })
            }
            Source::Command { argv, timeout, dir } => {
                let out = run(argv, *timeout, dir).await.map_err(|m| format!("`{here}`: {m}"))?;
                let value = checked(&here, &out)?;
                Ok(Resolved { value, stamp: None, refreshable: true })
            }
            Source::Chain(all) => {
                let mut errors = Vec::new();
                for (i, s) in all.iter().enumerate() {
                    match Box::pin(s.resolve(&format!("{here}[{i}]"))).await {
                        Ok(r) => return Ok(r),
                        Err(e) => errors.push(e),
                    }
                }
                Err(format!("`{here}`: no entry yielded a value: {}", errors.join("; ")))
            }
        }
    }
}

/// `value` trimmed, if it is a value a secret may have.
fn checked(key: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    super::check_value(value).map_err(|m| format!("`{key}`: {m}"))?;
    Ok(value.to_string())
}

/// Reads a secret file (at most [`MAX_OUTPUT`] bytes), with its stamp from before
/// the read (so a change during the read is seen next time).
pub fn read_file(path: &Path) -> Result<(String, Stamp), String> {
    let stamp = Stamp::of(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bytes = crate::files::read_bounded(path, MAX_OUTPUT, "a secret file")
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    Ok((text.trim().to_string(), stamp))
}

/// Runs a helper and returns its stdout; errors never quote its output.
async fn run(argv: &[String], timeout: Duration, dir: &Path) -> Result<String, String> {
    let name = &argv[0];
    // A relative program with a slash is the manifest's, like every other path in it.
    let program = if name.contains('/') { dir.join(name) } else { PathBuf::from(name) };
    let mut child = tokio::process::Command::new(&program)
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{name}`: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // stderr is drained (so the helper never blocks on it) and only counted.
    let drain = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let mut n = 0u64;
        while let Ok(k) = stderr.read(&mut buf).await {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    });
    let work = async {
        let mut out = Vec::new();
        (&mut stdout).take(MAX_OUTPUT + 1).read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        if out.len() as u64 > MAX_OUTPUT {
            return Err(format!("`{name}` wrote more than {MAX_OUTPUT} bytes to stdout"));
        }
        let status = child.wait().await.map_err(|e| e.to_string())?;
        Ok((out, status))
    };
    let ended = tokio::time::timeout(timeout, work).await;
    // Whatever happened, the helper is not left running.
    let _ = child.start_kill();
    let stderr_bytes = match tokio::time::timeout(Duration::from_secs(1), drain).await {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    let (out, status) = match ended {
        Err(_) => {
            return Err(format!(
                "`{name}` did not finish within {} ms (timeout_ms); it was killed",
                timeout.as_millis()
            ));
        }
        Ok(r) => r?,
    };
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        };
        return Err(format!("`{name}` {how} (its stderr, {stderr_bytes} bytes, is not shown)"));
    }
    String::from_utf8(out).map_err(|_| format!("`{name}` wrote something that is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(argv: &[&str], ms: u64) -> Source {
        Source::Command {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(ms),
            dir: std::env::temp_dir(),
        }
    }

    #[tokio::test]
    async fn commands_time_out_fail_without_quoting_and_chains_fall_back() {
        let ok = cmd(&["sh", "-c", "echo '  helper-value-123  '"], 5000).resolve("k").await.unwrap();
        assert_eq!(ok.value, "helper-value-123");
        assert!(ok.refreshable);
        let e = cmd(&["sleep", "5"], 100).resolve("k").await.err().unwrap();
        assert_eq!(e, "`k.from_command`: `sleep` did not finish within 100 ms (timeout_ms); it was killed");
        let e = cmd(&["sh", "-c", "echo leaked-secret-1 >&2; exit 3"], 5000).resolve("k").await.err().unwrap();
        assert_eq!(e, "`k.from_command`: `sh` exited with status 3 (its stderr, 16 bytes, is not shown)");
        let e = cmd(&["/nonexistent/helper"], 100).resolve("k").await.err().unwrap();
        assert!(e.starts_with("`k.from_command`: cannot start `/nonexistent/helper`:"), "{e}");
        let e = cmd(&["echo", "short"], 5000).resolve("k").await.err().unwrap();
        assert!(e.contains("too short to be a secret"), "{e}");

        let chain = Source::Chain(vec![
            Source::Env { var: "UNSET_VAR".into(), value: None },
            cmd(&["false"], 5000),
            Source::Env { var: "SET_VAR".into(), value: Some("from-env-value".into()) },
        ]);
        assert_eq!(chain.resolve("s").await.unwrap().value, "from-env-value");
        let Source::Chain(mut all) = chain else { unreachable!() };
        all.pop();
        let e = Source::Chain(all).resolve("s").await.err().unwrap();
        assert_eq!(
            e,
            "`s.chain`: no entry yielded a value: `s.chain[0].from_env` names UNSET_VAR, but that environment \
             variable is not set; `s.chain[1].from_command`: `false` exited with status 1 (its stderr, 0 bytes, is not shown)"
        );
    }
}
