//! Loading a connector component: reading it, checking that it is a component of the
//! connector world this host supports, compiling it (or taking it from the cache) and
//! pre-linking it so that every run only instantiates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre};

use super::bindings::{v1, v1_1};
use super::capabilities::HostState;
use super::engine::Engine;
use super::engine::cache::CacheOutcome;
use crate::declaration::{Declaration, DeclarationError};

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
    /// The capabilities it declares it needs (its custom section), if it carries any.
    pub declaration: Option<crate::declaration::Declaration>,
}

/// A compiled component held by [`Shared`], with the declaration read from its bytes.
type SharedEntry = (Weak<World>, Option<Declaration>);

/// Compiled components by digest, shared by every connector that loads the same
/// bytes through it (`host serve`: a thousand connectors of one `.wasm` hold one
/// compiled copy, not a thousand, each with its code mapped from its own memfd). An
/// entry lives as long as a connector holds it.
#[derive(Default)]
pub struct Shared {
    by_digest: Mutex<HashMap<String, SharedEntry>>,
    /// Components loaded (compiled, or read from the compile cache) rather than
    /// shared.
    loaded: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// How many distinct compiled components are loaded now.
    pub fn live(&self) -> usize {
        let map = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|(w, _)| w.strong_count() > 0).count()
    }

    /// How many components were loaded rather than taken from here.
    pub fn loaded(&self) -> u64 {
        self.loaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn get(&self, digest: &str) -> Option<(Arc<World>, Option<Declaration>)> {
        let map = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        let (world, declaration) = map.get(digest)?;
        Some((world.upgrade()?, declaration.clone()))
    }

    fn put(&self, digest: &str, world: &Arc<World>, declaration: &Option<Declaration>) {
        let mut map = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (w, _)| w.strong_count() > 0);
        map.insert(digest.to_string(), (Arc::downgrade(world), declaration.clone()));
    }
}

/// The indices of a `source` export (1.0 and 1.1).
pub(super) type SourceIndices = v1::exports::partner::connector::source::GuestIndices;
/// The indices of an `evidence` export (1.1).
pub(super) type EvidenceIndices = v1_1::exports::partner::connector::evidence::GuestIndices;
/// The indices of a `columnar` export (1.1).
pub(super) type ColumnarIndices = v1_1::columnar::exports::partner::connector::columnar::GuestIndices;

/// A pre-linked component, by the version of the connector world it implements.
/// Every export the sandbox calls dispatches on this.
pub enum World {
    /// `partner:connector@1.x`: a `source` export (worlds `connector` and
    /// `connector-with-evidence`), an `evidence` export (1.1: worlds
    /// `evidence-connector` and `connector-with-evidence`), or both.
    V1 {
        /// The pre-linked component.
        pre: InstancePre<HostState>,
        /// The version it was built against (one of [`v1::PACKAGES`]).
        package: &'static str,
        /// Its `source` export, if it has one.
        source: Option<SourceIndices>,
        /// Its `evidence` export, if it has one.
        evidence: Option<EvidenceIndices>,
        /// Its `columnar` export (pages as columns, used for ingest), if it has one.
        columnar: Option<ColumnarIndices>,
    },
}

/// Which of the contract's exports a component has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Exports {
    /// `source`: records to list (`host run`, `host serve`'s schedule).
    pub source: bool,
    /// `evidence`: search and fetch (`host search`, `host fetch`).
    pub evidence: bool,
    /// `columnar`: the source's pages as columns, which ingest uses instead of
    /// `list-drafts`.
    pub columnar: bool,
}

impl Exports {
    /// The world of the contract these exports make.
    pub fn world(self) -> &'static str {
        match (self.source, self.evidence, self.columnar) {
            (true, true, _) => "connector-with-evidence",
            (false, true, _) => "evidence-connector",
            (_, false, true) => "columnar-connector",
            _ => "connector",
        }
    }
}

impl World {
    /// The WIT package and version.
    pub fn package(&self) -> &'static str {
        match self {
            World::V1 { package, .. } => package,
        }
    }

    /// Which exports of the contract the component has.
    pub fn exports(&self) -> Exports {
        match self {
            World::V1 { source, evidence, columnar, .. } => {
                Exports { source: source.is_some(), evidence: evidence.is_some(), columnar: columnar.is_some() }
            }
        }
    }

    fn component(&self) -> &Component {
        match self {
            World::V1 { pre, .. } => pre.component(),
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
        "{path} exports `{export}`: it was built against {found}, and this host supports \
         {supported}"
    )]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// The source export it has.
        export: String,
        /// The package and version it exports instead.
        found: String,
        /// The packages this host supports.
        supported: &'static str,
    },
    /// The component exports a source and another interface (evidence, columns) of
    /// different versions.
    #[error(
        "{path} exports its source from {source_version} and its {other} from {other_version}: \
         build both against one version of the contract"
    )]
    MixedVersions {
        /// The file.
        path: PathBuf,
        /// The package of its source export.
        source_version: &'static str,
        /// The other export (`evidence`, `columnar`).
        other: &'static str,
        /// The package of the other export.
        other_version: &'static str,
    },
    /// The component gives pages as columns but exports no source.
    #[error(
        "{path} exports `partner:connector/columnar` without `partner:connector/source`: columns are \
         another way to give a source's pages, and a component that has them must export the source too \
         (world `columnar-connector`)"
    )]
    ColumnsWithoutSource {
        /// The file.
        path: PathBuf,
    },
    /// The component is not a connector at all.
    #[error(
        "{path} exports neither `partner:connector/source` nor `partner:connector/evidence`, so it is \
         not a connector (it exports: {found})"
    )]
    NotConnector {
        /// The file.
        path: PathBuf,
        /// What it exports.
        found: String,
    },
    /// The component's declared capabilities cannot be read.
    #[error("{path}: its declared capabilities cannot be read: {source}")]
    Declaration {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DeclarationError,
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
        if let Some((pre, declaration)) = shared.and_then(|s| s.get(&digest)) {
            // Checked when it was first loaded: the same bytes are the same component.
            let ty = pre.component().component_type();
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
                declaration,
            });
        }
        let declaration =
            crate::declaration::read(bytes).map_err(|source| LoadError::Declaration { path: path.clone(), source })?;
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
        let found = check_exports(&path, &exports)?;

        let pre: InstancePre<HostState> =
            engine.linker().instantiate_pre(&component).map_err(|e| missing_import(&path, &imports, &e))?;
        let package = found.package;
        let mismatch = |what: &str, e: wasmtime::Error| LoadError::Invalid {
            path: path.clone(),
            message: format!("its {what} export does not match the contract of {package}: {e:#}"),
        };
        let source = match found.exports.source {
            true => Some(SourceIndices::new(&pre).map_err(|e| mismatch("source", e))?),
            false => None,
        };
        let evidence = match found.exports.evidence {
            true => Some(EvidenceIndices::new(&pre).map_err(|e| mismatch("evidence", e))?),
            false => None,
        };
        let columnar = match found.exports.columnar {
            true => Some(ColumnarIndices::new(&pre).map_err(|e| mismatch("columnar", e))?),
            false => None,
        };
        let pre = Arc::new(World::V1 { pre, package, source, evidence, columnar });
        if let Some(shared) = shared {
            shared.loaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            shared.put(&digest, &pre, &declaration);
        }
        Ok(LoadedComponent {
            path,
            digest,
            size: bytes.len() as u64,
            pre,
            cache,
            load_time,
            imports,
            exports,
            declaration,
        })
    }

    /// The WIT package and version the component was built against.
    pub fn package(&self) -> &'static str {
        self.pre.package()
    }

    /// Which exports of the contract the component has.
    pub fn contract_exports(&self) -> Exports {
        self.pre.exports()
    }
}

/// What a component's exports say about it: the version of the package it was built
/// against and which of the contract's exports it has.
#[derive(Debug)]
struct Found {
    package: &'static str,
    exports: Exports,
}

/// The package version a component's exports say it was built against, and which
/// exports it has, or why it is not a connector this host runs.
fn check_exports(path: &Path, exports: &[String]) -> Result<Found, LoadError> {
    let versions = |interface: &str| -> Vec<String> {
        let prefix = format!("partner:connector/{interface}@");
        exports.iter().filter_map(|n| n.strip_prefix(&prefix).map(str::to_string)).collect()
    };
    let (sources, evidence, columnar) = (versions("source"), versions("evidence"), versions("columnar"));
    let supported = |packages: &[&'static str], found: &[String]| {
        packages.iter().copied().find(|p| found.iter().any(|v| p.strip_prefix("partner:connector@") == Some(v)))
    };
    let source_package = supported(&v1::PACKAGES, &sources);
    let evidence_package = supported(&v1_1::PACKAGES, &evidence);
    let wrong = |interface: &str, version: &str| LoadError::WrongVersion {
        path: path.to_path_buf(),
        export: format!("partner:connector/{interface}@{version}"),
        found: format!("partner:connector@{version}"),
        supported: v1::SUPPORTED,
    };
    // An export of an unsupported version is refused even beside a supported one:
    // the host would otherwise run half of what the partner built.
    if let (None, Some(version)) = (source_package, sources.first()) {
        return Err(wrong("source", version));
    }
    if let (None, Some(version)) = (evidence_package, evidence.first()) {
        return Err(wrong("evidence", version));
    }
    // Columns are another way to give the source's pages: only beside a source of
    // the same version.
    let columnar_package = supported(&v1_1::PACKAGES, &columnar);
    if let Some(version) = columnar.first() {
        match (columnar_package, source_package) {
            (None, _) => return Err(wrong("columnar", version)),
            (Some(_), None) => {
                return Err(LoadError::ColumnsWithoutSource { path: path.to_path_buf() });
            }
            (Some(c), Some(s)) if c != s => {
                return Err(LoadError::MixedVersions {
                    path: path.to_path_buf(),
                    source_version: s,
                    other: "columnar",
                    other_version: c,
                });
            }
            _ => {}
        }
    }
    let package = match (source_package, evidence_package) {
        (Some(s), Some(e)) if s != e => {
            return Err(LoadError::MixedVersions {
                path: path.to_path_buf(),
                source_version: s,
                other: "evidence",
                other_version: e,
            });
        }
        (Some(package), _) | (None, Some(package)) => package,
        (None, None) => {
            let found = if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            };
            return Err(LoadError::NotConnector { path: path.to_path_buf(), found });
        }
    };
    Ok(Found {
        package,
        exports: Exports {
            source: source_package.is_some(),
            evidence: evidence_package.is_some(),
            columnar: columnar_package.is_some(),
        },
    })
}

fn missing_import(path: &Path, imports: &[String], e: &wasmtime::Error) -> LoadError {
    let text = format!("{e:#}");
    // wasmtime names the import in backticks; fall back to the first import that is
    // neither WASI nor ours.
    let import = text.split('`').nth(1).map(str::to_string).or_else(|| imports.first().cloned()).unwrap_or_default();
    let hint = if import.starts_with("partner:connector/") {
        format!("it was built against another version of the contract; this host supports {}", v1::SUPPORTED)
    } else if import.starts_with("wasi:") {
        format!("this WASI interface is not offered to connectors ({text})")
    } else {
        format!("it is not part of the connector world of {} ({text})", v1::SUPPORTED)
    };
    LoadError::MissingImport { path: path.to_path_buf(), import, hint }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(exports: &[&str]) -> Result<Found, LoadError> {
        check_exports(Path::new("x.wasm"), &exports.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn columns_are_taken_only_beside_a_source_of_their_version() {
        let f = found(&["partner:connector/source@1.1.0", "partner:connector/columnar@1.1.0"]).unwrap();
        assert_eq!(f.package, "partner:connector@1.1.0");
        assert_eq!(f.exports, Exports { source: true, evidence: false, columnar: true });
        assert_eq!(f.exports.world(), "columnar-connector");

        let e = found(&["partner:connector/columnar@1.1.0"]).unwrap_err().to_string();
        assert!(e.starts_with("x.wasm exports `partner:connector/columnar` without `partner:connector/source`"), "{e}");
        let e = found(&["partner:connector/source@1.0.0", "partner:connector/columnar@1.1.0"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "x.wasm exports its source from partner:connector@1.0.0 and its columnar from partner:connector@1.1.0: \
             build both against one version of the contract"
        );
        let e = found(&["partner:connector/source@1.1.0", "partner:connector/columnar@1.2.0"]).unwrap_err();
        assert!(
            matches!(e, LoadError::WrongVersion { ref export, .. } if export == "partner:connector/columnar@1.2.0"),
            "{e}"
        );
    }
}
