//! Every `bindgen!` of the host, in one place.
//!
//! One module per supported version of the WIT package; a breaking change to the
//! contract adds a module beside `v1` instead of editing it.

/// Bindings for `partner:connector@1.0.0` (`wit/v1`).
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

    /// The name of the exported interface a v1 connector must provide.
    pub const SOURCE_EXPORT: &str = "partner:connector/source@1.0.0";
    /// The WIT package and version these bindings are for.
    pub const PACKAGE: &str = "partner:connector@1.0.0";
}
