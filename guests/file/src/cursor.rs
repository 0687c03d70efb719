//! The connector's cursor: an opaque position in the feed.
//!
//! For JSONL it is the byte offset of the next line and that line's number, so a
//! page starts with a seek instead of re-reading the file; for a JSON array it is
//! the index of the next item.

use connector_sdk::ConnectorError;

/// A position in the feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Byte offset (JSONL) or item index (JSON array).
    pub offset: u64,
    /// 1-based number of the next line (JSONL) or item (JSON array).
    pub line: u64,
}

impl Position {
    /// The start of the feed.
    pub const START: Position = Position { offset: 0, line: 1 };

    /// Parses a cursor this connector issued.
    pub fn parse(cursor: Option<&str>) -> Result<Position, ConnectorError> {
        let Some(text) = cursor else { return Ok(Position::START) };
        let bad = || {
            ConnectorError::InvalidConfig(format!(
                "cursor `{text}` was not issued by this connector (expected `v1:<offset>:<line>`)"
            ))
        };
        let mut parts = text.strip_prefix("v1:").ok_or_else(bad)?.split(':');
        let offset = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let line = parts.next().and_then(|s| s.parse().ok()).filter(|l| *l > 0).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Position { offset, line })
    }

    /// The cursor text for this position.
    pub fn encode(self) -> String {
        format!("v1:{}:{}", self.offset, self.line)
    }
}
