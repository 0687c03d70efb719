//! The on-disk cache of compiled components.
//!
//! Compiling a component takes about 120 ms; loading the compiled artifact takes
//! well under a millisecond. Artifacts are keyed by the SHA-256 of the component and
//! a hash of the engine's configuration and version, so a change of either misses.
//! Loading an artifact runs native code, so the cache directory is created private
//! (0700) and each artifact is stored with its own SHA-256, checked before loading:
//! a truncated or corrupted file is recompiled, never loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// Whether a component came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// Loaded from a compiled artifact.
    Hit,
    /// Compiled, and the artifact stored.
    Miss,
    /// The cache is off.
    Off,
}

/// A directory of compiled components.
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub fn new(dir: PathBuf, engine: &wasmtime::Engine) -> CompileCache {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        CompileCache { dir, engine_key: format!("{:016x}", h.finish()) }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn artifact(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `digest`, if the cache holds an intact one.
    pub fn load(&self, engine: &wasmtime::Engine, digest: &str) -> Option<Component> {
        let path = self.artifact(digest);
        let bytes = std::fs::read(&path).ok()?;
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != sum {
            tracing::warn!(path = %path.display(), "compiled artifact is corrupt; recompiling");
            return None;
        }
        // SAFETY: `deserialize` runs native code from the artifact. The artifact was
        // written by this cache (same engine key: same wasmtime version and
        // configuration) into a directory only this user can write, and its checksum
        // matched, so it is the output of `Component::serialize` for this digest.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize(engine, body) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot load compiled artifact ({e:#}); recompiling");
                None
            }
        }
    }

    /// Stores the compiled `component` for `digest`. Failing to store is not an
    /// error of the run: it is logged and the next load compiles again.
    pub fn store(&self, digest: &str, component: &Component) {
        if let Err(e) = self.try_store(digest, component) {
            tracing::warn!(dir = %self.dir.display(), "cannot cache the compiled component: {e:#}");
        }
    }

    fn try_store(&self, digest: &str, component: &Component) -> anyhow::Result<()> {
        create_private_dir(&self.dir)?;
        let mut bytes = component.serialize()?;
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        // Write then rename, so a reader never sees half an artifact.
        let mut tmp = tempfile_in(&self.dir)?;
        std::io::Write::write_all(&mut tmp.1, &bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, self.artifact(digest))?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(".tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    Ok((path.clone(), o.open(&path)?))
}

/// The default cache directory: `$HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/connector-host`,
/// else `~/.cache/connector-host`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HOST_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("connector-host"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("connector-host"))
}
