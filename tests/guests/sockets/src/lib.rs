//! Uses `std::net`, so the component imports `wasi:sockets`, which the host does not
//! provide: loading it must fail with an error naming the import.

use connector_sdk::{Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, SourceRecord, export};

struct Sockets;

impl Connector for Sockets {
    fn source_name() -> String {
        "sockets".into()
    }

    fn list_records(_: PageRequest) -> Result<Page, ConnectorError> {
        let s = std::net::TcpStream::connect("127.0.0.1:9").map_err(|e| ConnectorError::Network(e.to_string()))?;
        drop(s);
        Ok(Page { records: vec![], next_cursor: None, skipped: vec![] })
    }

    fn to_envelopes(_: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        Ok(vec![])
    }
}

export!(Sockets);
