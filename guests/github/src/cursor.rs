//! The connector's cursor: `v1:link:<url>`, the absolute URL of the next page as
//! GitHub's `Link` header gave it (often under `/repositories/<id>/issues`).

use connector_sdk::ConnectorError;

/// The cursor text for the next page at `url`.
pub fn encode(url: &str) -> String {
    format!("v1:link:{url}")
}

/// The URL of the page a cursor this connector issued points at.
pub fn parse(text: &str) -> Result<String, ConnectorError> {
    text.strip_prefix("v1:link:")
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .map(String::from)
        .ok_or_else(|| {
            ConnectorError::InvalidConfig(format!(
                "cursor `{text}` was not issued by this connector (expected `v1:link:<url>`)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let url = "https://api.github.com/repositories/1000/issues?per_page=100&state=all&page=2";
        assert_eq!(encode(url), format!("v1:link:{url}"));
        assert_eq!(parse(&encode(url)).unwrap(), url);
    }

    #[test]
    fn foreign_cursors_are_invalid_config_naming_the_cursor() {
        for text in ["v1:12:3", "v1:link:", "v1:link:/repositories/1/issues", "v1:page:2", ""] {
            match parse(text) {
                Err(ConnectorError::InvalidConfig(m)) => assert_eq!(
                    m,
                    format!("cursor `{text}` was not issued by this connector (expected `v1:link:<url>`)")
                ),
                other => panic!("expected invalid-config for `{text}`, got {other:?}"),
            }
        }
    }
}
