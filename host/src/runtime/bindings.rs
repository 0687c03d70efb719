//! Every `bindgen!` of the host, in one place.
//!
//! One module per supported version of the WIT package; a breaking change to the
//! contract adds a module beside `v1` instead of editing it.

/// Bindings for `partner:connector@1.0.0` (`wit/v1`), which serve `1.1.0` too.
///
/// Version 1.1 (`wit/v1.1`) changes no interface: its world adds `wasi:filesystem`,
/// which the host links for every version anyway. wasmtime resolves imports and
/// exports by semver-compatible name (`@1.1.0` finds `@1.0.0`) and type-checks them
/// structurally, so a 1.1 component is instantiated through these bindings, and
/// its `source` export called through them. What 1.1 adds, the `evidence` export,
/// has its bindings in [`v1_1`].
///
/// Exports are async so that a later `http` import can await the network. Every
/// import is `trappable`: a host fault or an exhausted limit traps the guest, while
/// failures the guest should handle come back as `connector-error` values.
pub mod v1 {
    wasmtime::component::bindgen!({
        world: "connector",
        path: "../wit/v1",
        imports: {
            "partner:connector/http.send": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });

    /// The versions of the WIT package these bindings serve, oldest first.
    pub const PACKAGES: [&str; 2] = ["partner:connector@1.0.0", "partner:connector@1.1.0"];
    /// Every version of the package this host supports, for messages.
    pub const SUPPORTED: &str = "partner:connector@1.0.0 and partner:connector@1.1.0";
}

/// Bindings for what `partner:connector@1.1.0` (`wit/v1.1`) adds to 1.0: the
/// `evidence` export, of the worlds `evidence-connector` and
/// `connector-with-evidence`.
///
/// Every import and the shared `types` are mapped onto [`v1`]'s (`with`): they are
/// the same interfaces, the linker already serves them through `v1`, and the evidence
/// export's `connector-error` is then `v1`'s type, converted in one place.
pub mod v1_1 {
    wasmtime::component::bindgen!({
        world: "evidence-connector",
        path: "../wit/v1.1",
        with: {
            "partner:connector/types": super::v1::partner::connector::types,
            "partner:connector/http": super::v1::partner::connector::http,
            "partner:connector/config": super::v1::partner::connector::config,
            "partner:connector/log": super::v1::partner::connector::log,
            "partner:connector/state": super::v1::partner::connector::state,
            "wasi": wasmtime_wasi::p2::bindings,
        },
        exports: { default: async },
    });

    /// The name of the exported interface an evidence connector must provide.
    pub const EVIDENCE_EXPORT: &str = "partner:connector/evidence@1.1.0";
    /// The versions of the WIT package that have the `evidence` interface.
    pub const PACKAGES: [&str; 1] = ["partner:connector@1.1.0"];

    /// Bindings for the `columnar` export of `partner:connector@1.1.0` (world
    /// `columnar-connector`). Its `source` export is the one [`super::v1`] binds;
    /// only `columnar` is used from here.
    pub mod columnar {
        wasmtime::component::bindgen!({
            world: "columnar-connector",
            path: "../wit/v1.1",
            with: {
                "partner:connector/types": crate::runtime::bindings::v1::partner::connector::types,
                "partner:connector/http": crate::runtime::bindings::v1::partner::connector::http,
                "partner:connector/config": crate::runtime::bindings::v1::partner::connector::config,
                "partner:connector/log": crate::runtime::bindings::v1::partner::connector::log,
                "partner:connector/state": crate::runtime::bindings::v1::partner::connector::state,
                "wasi": wasmtime_wasi::p2::bindings,
            },
            exports: { default: async },
        });

        /// The name of the exported interface that gives pages as columns.
        pub const COLUMNAR_EXPORT: &str = "partner:connector/columnar@1.1.0";
    }
}
