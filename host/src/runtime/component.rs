//! Loading a connector component: reading it, checking that it is a component of the
//! connector world this host supports, compiling it (or taking it from the cache) and
//! pre-linking it so that every run only instantiates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre};

use super::bindings::v1;
use super::capabilities::HostState;
use super::engine::Engine;
use super::engine::cache::CacheOutcome;

/// A compiled, checked and pre-linked connector component.
pub struct LoadedComponent {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the component's bytes, lowercase hex.
    pub digest: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// The pre-linked component, for the world it implements: a run only
    /// instantiates it. Shared by every connector loaded from the same bytes through
    /// one [`Shared`].
    pub pre: Arc<World>,
    /// Whether the compiled code came from the cache.
    pub cache: CacheOutcome,
    /// Time spent compiling or loading the compiled code.
    pub load_time: Duration,
    /// What the component imports (interface names).
    pub imports: Vec<String>,
    /// What the component exports (interface names).
    pub exports: Vec<String>,
}

/// Compiled components by digest, shared by every connector that loads the same
/// bytes through it (`host serve`: a thousand connectors of one `.wasm` hold one
/// compiled copy, not a thousand, each with its code mapped from its own memfd). An
/// entry lives as long as a connector holds it.
#[derive(Default)]
pub struct Shared {
    by_digest: Mutex<HashMap<String, Weak<World>>>,
    /// Components loaded (compiled, or read from the compile cache) rather than
    /// shared.
    loaded: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// How many distinct compiled components are loaded now.
    pub fn live(&self) -> usize {
        let map = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|w| w.strong_count() > 0).count()
    }

    /// How many components were loaded rather than taken from here.
    pub fn loaded(&self) -> u64 {
        self.loaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn get(&self, digest: &str) -> Option<Arc<World>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner()).get(digest).and_then(Weak::upgrade)
    }

    fn put(&self, digest: &str, world: &Arc<World>) {
        let mut map = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(digest.to_string(), Arc::downgrade(world));
    }
}

/// A pre-linked component, by the version of the connector world it implements.
/// Every export the sandbox calls dispatches on this.
pub enum World {
    /// `partner:connector@1.0.0`, world `connector`.
    V1_0(v1::ConnectorPre<HostState>),
}

impl World {
    /// The WIT package and version.
    pub fn package(&self) -> &'static str {
        match self {
            World::V1_0(_) => v1::PACKAGE,
        }
    }
}

/// A component that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not WebAssembly at all.
    #[error("{path} is not a WebAssembly component (it does not start with the `\\0asm` magic bytes)")]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// The file is a core module, not a component.
    #[error(
        "{path} is a core WebAssembly module, not a component: build the connector for the \
         wasm32-wasip2 target (or wrap the module with `wasm-tools component new`)"
    )]
    CoreModule {
        /// The file.
        path: PathBuf,
    },
    /// The file is a component wasmtime cannot compile.
    #[error("{path} is not a valid component: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        message: String,
    },
    /// The component targets another version of the contract.
    #[error(
        "{path} does not export `{expected}`: it was built against {found}, and this host \
         supports {supported}"
    )]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// The export this host needs.
        expected: &'static str,
        /// The package and version it exports instead.
        found: String,
        /// The packages this host supports.
        supported: &'static str,
    },
    /// The component is not a connector at all.
    #[error("{path} does not export `{expected}`, so it is not a connector (it exports: {found})")]
    NotConnector {
        /// The file.
        path: PathBuf,
        /// The export this host needs.
        expected: &'static str,
        /// What it exports.
        found: String,
    },
    /// The component imports something the host does not provide.
    #[error("{path} imports `{import}`, which this host does not provide: {hint}")]
    MissingImport {
        /// The file.
        path: PathBuf,
        /// The import.
        import: String,
        /// Why, and what to do.
        hint: String,
    },
}

impl LoadedComponent {
    /// Loads the component at `path` into `engine`.
    pub fn load(engine: &Engine, path: &Path) -> Result<LoadedComponent, LoadError> {
        let bytes = crate::files::read_bounded(path, crate::files::MAX_COMPONENT, "a component")
            .map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
        LoadedComponent::from_bytes(engine, path, &bytes)
    }

    /// Loads a component from its bytes; `path` names it in errors.
    pub fn from_bytes(engine: &Engine, path: &Path, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        LoadedComponent::from_bytes_in(engine, None, path, bytes)
    }

    /// [`LoadedComponent::from_bytes`], taking the compiled component from `shared`
    /// when it holds one of the same digest, and putting it there otherwise.
    pub fn from_bytes_shared(
        engine: &Engine,
        shared: &Shared,
        path: &Path,
        bytes: &[u8],
    ) -> Result<LoadedComponent, LoadError> {
        LoadedComponent::from_bytes_in(engine, Some(shared), path, bytes)
    }

    fn from_bytes_in(
        engine: &Engine,
        shared: Option<&Shared>,
        path: &Path,
        bytes: &[u8],
    ) -> Result<LoadedComponent, LoadError> {
        let path = path.to_path_buf();
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(LoadError::CoreModule { path }),
            _ => return Err(LoadError::NotWasm { path }),
        }
        let digest = hex::encode(Sha256::digest(bytes));
        let started = Instant::now();
        if let Some(pre) = shared.and_then(|s| s.get(&digest)) {
            // Checked when it was first loaded: the same bytes are the same component.
            let ty = match &*pre {
                World::V1_0(p) => p.instance_pre().component().component_type(),
            };
            let imports = ty.imports(engine.wasmtime()).map(|(name, _)| name.to_string()).collect();
            let exports = ty.exports(engine.wasmtime()).map(|(name, _)| name.to_string()).collect();
            let load_time = started.elapsed();
            let size = bytes.len() as u64;
            return Ok(LoadedComponent {
                path,
                digest,
                size,
                pre,
                cache: CacheOutcome::Hit,
                load_time,
                imports,
                exports,
            });
        }
        let (component, cache) = match engine.cache().and_then(|c| c.load(engine.wasmtime(), &digest)) {
            Some(component) => (component, CacheOutcome::Hit),
            None => {
                let component = Component::from_binary(engine.wasmtime(), bytes)
                    .map_err(|e| LoadError::Invalid { path: path.clone(), message: format!("{e:#}") })?;
                match engine.cache() {
                    Some(cache) => {
                        cache.store(&digest, &component);
                        (component, CacheOutcome::Miss)
                    }
                    None => (component, CacheOutcome::Off),
                }
            }
        };
        let load_time = started.elapsed();

        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine.wasmtime()).map(|(name, _)| name.to_string()).collect();
        let exports: Vec<String> = ty.exports(engine.wasmtime()).map(|(name, _)| name.to_string()).collect();
        check_exports(&path, &exports)?;

        let pre: InstancePre<HostState> =
            engine.linker().instantiate_pre(&component).map_err(|e| missing_import(&path, &imports, &e))?;
        let pre = Arc::new(World::V1_0(v1::ConnectorPre::new(pre).map_err(|e| LoadError::Invalid {
            path: path.clone(),
            message: format!("its `{}` export does not match the contract: {e:#}", v1::SOURCE_EXPORT),
        })?));
        if let Some(shared) = shared {
            shared.loaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            shared.put(&digest, &pre);
        }
        Ok(LoadedComponent { path, digest, size: bytes.len() as u64, pre, cache, load_time, imports, exports })
    }

    /// The WIT package and version the component was built against.
    pub fn package(&self) -> &'static str {
        self.pre.package()
    }
}

fn check_exports(path: &Path, exports: &[String]) -> Result<(), LoadError> {
    if exports.iter().any(|name| name == v1::SOURCE_EXPORT) {
        return Ok(());
    }
    let names = || {
        if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        }
    };
    match exports.iter().find_map(|n| n.strip_prefix("partner:connector/source@")) {
        Some(version) => Err(LoadError::WrongVersion {
            path: path.to_path_buf(),
            expected: v1::SOURCE_EXPORT,
            found: format!("partner:connector@{version}"),
            supported: v1::PACKAGE,
        }),
        None => Err(LoadError::NotConnector { path: path.to_path_buf(), expected: v1::SOURCE_EXPORT, found: names() }),
    }
}

fn missing_import(path: &Path, imports: &[String], e: &wasmtime::Error) -> LoadError {
    let text = format!("{e:#}");
    // wasmtime names the import in backticks; fall back to the first import that is
    // neither WASI nor ours.
    let import = text.split('`').nth(1).map(str::to_string).or_else(|| imports.first().cloned()).unwrap_or_default();
    let hint = if import.starts_with("wasi:sockets") {
        "a connector gets no sockets; it reaches the network only through partner:connector/http".to_string()
    } else if import.starts_with("partner:connector/") {
        format!("it was built against another version of the contract; this host supports {}", v1::PACKAGE)
    } else if import.starts_with("wasi:") {
        format!("this WASI interface is not offered to connectors ({text})")
    } else {
        format!("it is not part of the connector world {} ({text})", v1::PACKAGE)
    };
    LoadError::MissingImport { path: path.to_path_buf(), import, hint }
}
