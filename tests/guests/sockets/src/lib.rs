//! Uses `std::net`, so the component imports `wasi:sockets`. The host links sockets
//! with every use denied: each attempt below must fail, and the guest reports how,
//! one record per attempt (`{"op": ..., "outcome": ...}`), so that a test can check
//! every one and that nothing reached the address it was given.
//!
//! Config `target` is an address (`127.0.0.1:PORT`) that a test listens on.

use std::io::Write;
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use connector_sdk::{
    Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, SourceRecord, export,
    host::config,
};

struct Sockets;

fn outcome<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}: {e}", e.kind()),
    }
}

impl Connector for Sockets {
    fn source_name() -> String {
        "sockets".into()
    }

    fn list_records(_: PageRequest) -> Result<Page, ConnectorError> {
        let target = config::get("target").ok_or_else(|| ConnectorError::InvalidConfig("set `target`".into()))?;
        let attempts = [
            ("tcp-connect", outcome(TcpStream::connect(&target).and_then(|mut s| s.write_all(b"hello")))),
            ("tcp-listen", outcome(TcpListener::bind("127.0.0.1:0"))),
            ("udp-bind", outcome(UdpSocket::bind("127.0.0.1:0"))),
            ("udp-send", outcome(UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"hello", &target)))),
            ("name-lookup", outcome(("localhost", 80).to_socket_addrs())),
        ];
        let records = attempts
            .into_iter()
            .map(|(op, outcome)| SourceRecord {
                id: op.into(),
                raw: serde_json::json!({ "op": op, "outcome": outcome }).to_string(),
                provenance: Provenance {
                    uri: format!("sockets://{op}"),
                    etag: None,
                    last_modified: None,
                    author: None,
                },
            })
            .collect();
        Ok(Page { records, next_cursor: None, skipped: vec![] })
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        Ok(records
            .into_iter()
            .map(|r| EnvelopeDraft {
                record_id: r.id,
                record_type: RecordType::Event,
                source_instance: "sockets".into(),
                provenance: r.provenance,
                acl_tags: vec![],
                raw: r.raw,
                metadata: None,
            })
            .collect())
    }
}

export!(Sockets);
