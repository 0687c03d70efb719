//! `host package` (write a component's declared capabilities into it) and `host
//! compile` (fill the compile cache ahead of a run or a hot swap).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::CliError;
use crate::declaration::{self, Declaration};
use crate::runtime::component::LoadedComponent;
use crate::runtime::engine::cache::CacheOutcome;
use crate::runtime::engine::{Engine, EngineOptions};

/// `host package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The component.
    pub component: PathBuf,
    /// The TOML file of what the connector needs (config keys, http origins, dirs,
    /// state); see docs/partner-kit.md.
    #[arg(long, value_name = "FILE", default_value = "capabilities.toml")]
    pub capabilities: PathBuf,
    /// Where to write the packaged component [default: over the component].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `host compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The components to compile into the cache.
    #[arg(required = true)]
    pub components: Vec<PathBuf>,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> CliError {
    move |source| CliError::Io { what, source }
}

/// Writes the declaration of `args.capabilities` into the component.
pub fn package_cmd(args: PackageArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.capabilities)
        .map_err(io(format!("cannot read capabilities {}", args.capabilities.display())))?;
    let declared = Declaration::from_toml(&text, &args.capabilities).map_err(CliError::Declaration)?;
    let bytes = crate::files::read_bounded(&args.component, crate::files::MAX_COMPONENT, "a component")
        .map_err(|source| crate::runtime::component::LoadError::Read { path: args.component.clone(), source })?;
    if !bytes.starts_with(b"\0asm") || bytes.get(6..8) != Some(&[1, 0]) {
        return Err(CliError::Load(crate::runtime::component::LoadError::NotWasm { path: args.component.clone() }));
    }
    let packaged = declaration::write(&bytes, &declared)
        .map_err(|e| CliError::Usage(format!("cannot package {}: {e}", args.component.display())))?;
    let out = args.out.unwrap_or_else(|| args.component.clone());
    write_atomically(&out, &packaged)?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&packaged));
    eprintln!(
        "packaged {} with {} ({} bytes, sha256 {digest})",
        out.display(),
        args.capabilities.display(),
        packaged.len()
    );
    Ok(())
}

/// Writes `bytes` to `path` through a file beside it, so that a watcher (`host
/// serve`) never sees half a component.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.packaging"));
    std::fs::write(&tmp, bytes).map_err(io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CliError::Io { what: format!("cannot write {}", path.display()), source }
    })
}

/// Compiles each component into the cache, or finds it there.
pub fn compile_cmd(cache_dir: Option<PathBuf>, args: CompileArgs) -> Result<(), CliError> {
    let Some(dir) = cache_dir else {
        return Err(CliError::Usage("host compile fills the compile cache: it cannot run with --no-cache".into()));
    };
    let engine = Engine::new(EngineOptions { cache_dir: Some(dir.clone()) })?;
    for path in &args.components {
        let started = Instant::now();
        let component = LoadedComponent::load(&engine, path)?;
        let seconds = started.elapsed().as_secs_f64();
        match component.cache {
            CacheOutcome::Hit => println!("{}: already compiled ({seconds:.2} s to load)", path.display()),
            _ => println!("{}: compiled in {seconds:.1} s into {}", path.display(), dir.display()),
        }
    }
    Ok(())
}
