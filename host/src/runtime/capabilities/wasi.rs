//! The WASI a guest gets: only as much as Rust's std needs.
//!
//! Clocks, random, stdout and stderr (into the host's log), an empty environment, no
//! arguments, no stdin, and no filesystem but the directories the manifest grants
//! (read-only unless it says otherwise). `wasi:sockets` is not linked at all, so a
//! component that imports it fails to load instead of getting a socket.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};

use super::HostState;
use super::log::LogCap;
use crate::manifest::Manifest;

/// A granted directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot grant directory {host} (as {guest}): {source}")]
pub struct GrantError {
    /// The directory on the host.
    pub host: String,
    /// Where the guest sees it.
    pub guest: String,
    /// Why it could not be opened.
    #[source]
    pub source: wasmtime::Error,
}

/// The WASI context of one run of `manifest`'s connector.
pub fn context(manifest: &Manifest, log: &LogCap) -> Result<WasiCtx, GrantError> {
    let mut b = WasiCtxBuilder::new();
    b.stdout(log.stdio(false)).stderr(log.stdio(true)).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    for dir in &manifest.dirs {
        let perms = if dir.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        b.preopened_dir(&dir.host, &dir.guest, perms).map_err(|source| GrantError {
            host: dir.host.display().to_string(),
            guest: dir.guest.clone(),
            source,
        })?;
    }
    Ok(b.build())
}

struct HasIo;
impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the WASI interfaces guests may use; sockets and name lookup are left out.
pub fn add_to_linker(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    type T = HostState;
    io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}
