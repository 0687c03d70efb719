//! Exports `partner:connector/source@2.0.0`: the host (which supports 1.0.0) must
//! refuse it and say which version it was built against.

wit_bindgen::generate!({ world: "connector", path: "wit" });

struct V2;

impl exports::partner::connector::source::Guest for V2 {
    fn source_name() -> String {
        "v2".into()
    }
}

export!(V2);
