//! The WASI a guest gets: only as much as Rust's std needs.
//!
//! Clocks, random, stdout and stderr (into the host's log), an empty environment, no
//! arguments, no stdin, and no filesystem but the directories the manifest grants
//! (read-only unless it says otherwise).
//!
//! `wasi:sockets` is linked, with every use denied: a context that allows neither TCP,
//! UDP nor name lookup, and whose address check refuses every address, so creating a
//! socket, binding or connecting fails with `access-denied`, and resolving a name
//! with `permanent-resolver-failure`.
//! Toolchains such as componentize-py import sockets whether a connector uses them
//! or not; linking them denied lets those components load while a connector still
//! reaches the network only through `partner:connector/http` and its egress policy.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random, sockets};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
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
    // Sockets are denied twice over: no protocol is allowed, and the address check
    // (its default, never replaced here) refuses every address.
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

/// Links the WASI interfaces guests may use, sockets and name lookup among them with
/// every use denied by the context of [`context`].
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
    sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), T::sockets)?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    Ok(())
}
