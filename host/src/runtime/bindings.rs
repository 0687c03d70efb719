//! Every `bindgen!` of the host, in one place.
//!
//! One module per supported version of the WIT package; a breaking change to the
//! contract adds a module beside `v1` instead of editing it.

/// Bindings for `partner:connector@1.0.0` (`wit/v1`), which serve `1.1.0` too.
///
/// Version 1.1 (`wit/v1.1`) changes no interface: its world adds `wasi:filesystem`,
/// which the host links for every version anyway. wasmtime resolves imports and
/// exports by semver-compatible name (`@1.1.0` finds `@1.0.0`) and type-checks them
/// structurally, so a 1.1 component is instantiated through these bindings. A
/// version that adds an interface gets bindings of its own.
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

    /// The name of the exported interface a 1.0 connector must provide.
    pub const SOURCE_EXPORT: &str = "partner:connector/source@1.0.0";
    /// The versions of the WIT package these bindings serve, oldest first.
    pub const PACKAGES: [&str; 2] = ["partner:connector@1.0.0", "partner:connector@1.1.0"];
    /// Every version of the package this host supports, for messages.
    pub const SUPPORTED: &str = "partner:connector@1.0.0 and partner:connector@1.1.0";
}
