//! The host side of every interface a connector imports, and the state of one
//! sandbox ([`HostState`]).
//!
//! Each interface lives in its own file and is implemented on a narrow capability
//! struct that [`HostState`] owns, so that one interface cannot reach into another's
//! state. [`add_to_linker`] links exactly these interfaces and the minimal WASI of
//! [`wasi`]: nothing else is reachable from a guest.

pub mod config;
pub mod http;
pub mod log;
pub mod state;
pub mod wasi;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::v1::partner::connector as wit;
use crate::manifest::Manifest;

/// Everything one sandboxed run of a connector owns. A fresh one is made for every
/// run, so nothing of one run is visible to the next.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory and table caps of the store.
    pub limits: super::limits::StoreCaps,
    /// `partner:connector/config`.
    pub config: config::ConfigCap,
    /// `partner:connector/log`, and the guest's stdout and stderr.
    pub log: log::LogCap,
    /// `partner:connector/state`.
    pub state: state::StateCap,
    /// `partner:connector/http`.
    pub http: http::HttpCap,
    /// When the guest call now running must stop (the earlier of its own deadline
    /// and the run's); checked on every epoch tick.
    pub deadline: Option<std::time::Instant>,
}

impl HostState {
    /// The sandbox state for one run of `manifest`'s connector.
    pub fn new(manifest: &Manifest, egress: Arc<crate::egress::Egress>) -> Result<HostState, wasi::GrantError> {
        let name: Arc<str> = Arc::from(manifest.name.as_str());
        let log = log::LogCap::new(name, &manifest.limits);
        let wasi = wasi::context(manifest, &log)?;
        Ok(HostState {
            wasi,
            table: ResourceTable::new(),
            limits: super::limits::StoreCaps::new(&manifest.limits),
            config: config::ConfigCap::new(manifest.config.clone()),
            log,
            state: state::StateCap::new(&manifest.limits),
            http: http::HttpCap::new(egress),
            deadline: None,
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Links every interface a connector may import, and nothing more.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasi::add_to_linker(linker)?;
    wit::types::add_to_linker::<HostState, HasTypes>(linker, |s| s)?;
    wit::config::add_to_linker::<HostState, HasConfig>(linker, |s| &mut s.config)?;
    wit::log::add_to_linker::<HostState, HasLog>(linker, |s| &mut s.log)?;
    wit::state::add_to_linker::<HostState, HasState>(linker, |s| &mut s.state)?;
    wit::http::add_to_linker::<HostState, HasHttp>(linker, |s| http::HttpView {
        cap: &mut s.http,
        deadline: s.deadline,
    })?;
    Ok(())
}

/// `types` declares no functions; its (empty) host trait lives on the state itself.
impl wit::types::Host for HostState {}

struct HasTypes;
impl HasData for HasTypes {
    type Data<'a> = &'a mut HostState;
}
struct HasConfig;
impl HasData for HasConfig {
    type Data<'a> = &'a mut config::ConfigCap;
}
struct HasLog;
impl HasData for HasLog {
    type Data<'a> = &'a mut log::LogCap;
}
struct HasState;
impl HasData for HasState {
    type Data<'a> = &'a mut state::StateCap;
}
struct HasHttp;
impl HasData for HasHttp {
    type Data<'a> = http::HttpView<'a>;
}
