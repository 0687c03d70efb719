//! The JSON body of `POST` list requests (config `body_template`), with placeholders
//! substituted as JSON values, never pasted into text.
//!
//! A placeholder is a JSON string whose whole value is one of:
//!
//! | placeholder | becomes |
//! |---|---|
//! | `"$cursor"` | the next cursor as the source gave it (a string, a number, an array); on the first page the member is left out (`null` in an array) |
//! | `"$page_size"` | the page length, a number |
//! | `"$since"` | the incremental high-water mark minus the look-back (a string or number); on the first run the member is left out |
//! | `"$config.KEY"` | the connector's config value `KEY`, a string (read once, when the settings are read) |
//!
//! Any other string, even one that starts with `$` (`"$gt"`, a GraphQL `"query($after: String)"`)
//! is sent as written.

use serde_json::{Map, Value};

/// A placeholder that is filled in per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    /// `"$cursor"`.
    Cursor,
    /// `"$page_size"`.
    PageSize,
    /// `"$since"`.
    Since,
}

impl Placeholder {
    fn of(s: &str) -> Option<Placeholder> {
        match s {
            "$cursor" => Some(Placeholder::Cursor),
            "$page_size" => Some(Placeholder::PageSize),
            "$since" => Some(Placeholder::Since),
            _ => None,
        }
    }
}

/// A parsed body template, `$config.KEY` values already in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Value);

/// The values of one request's placeholders.
pub struct Fill<'a> {
    /// The cursor; none on the first page.
    pub cursor: Option<&'a Value>,
    /// The page length.
    pub page_size: u32,
    /// The incremental lower bound; none on a full read.
    pub since: Option<&'a Value>,
}

impl Template {
    /// Parses the value of config `key`, looking `$config.KEY` values up with `config`.
    pub fn parse(key: &str, text: &str, config: &dyn Fn(&str) -> Option<String>) -> Result<Template, String> {
        let mut value: Value = serde_json::from_str(text)
            .map_err(|e| format!("config `{key}` is not JSON ({e}); write it as a JSON object such as `{{\"start_cursor\": \"$cursor\"}}`"))?;
        if !value.is_object() {
            return Err(format!("config `{key}` must be a JSON object, such as `{{\"start_cursor\": \"$cursor\"}}`"));
        }
        let mut missing = None;
        substitute_config(&mut value, config, &mut missing);
        if let Some(name) = missing {
            return Err(format!("config `{key}` uses `$config.{name}`, but config `{name}` is not set"));
        }
        Ok(Template(value))
    }

    /// Whether `p` appears in the template.
    pub fn uses(&self, p: Placeholder) -> bool {
        fn walk(v: &Value, p: Placeholder) -> bool {
            match v {
                Value::String(s) => Placeholder::of(s) == Some(p),
                Value::Array(a) => a.iter().any(|v| walk(v, p)),
                Value::Object(o) => o.values().any(|v| walk(v, p)),
                _ => false,
            }
        }
        walk(&self.0, p)
    }

    /// The body of one request.
    pub fn render(&self, fill: &Fill<'_>) -> String {
        render(&self.0, fill).unwrap_or(Value::Null).to_string()
    }
}

/// Replaces every `"$config.KEY"` string in `v`; the first unset key goes to `missing`.
fn substitute_config(v: &mut Value, config: &dyn Fn(&str) -> Option<String>, missing: &mut Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("$config.") {
                match config(name) {
                    Some(value) => *s = value,
                    None => *missing = missing.take().or_else(|| Some(name.to_string())),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| substitute_config(v, config, missing)),
        Value::Object(o) => o.values_mut().for_each(|v| substitute_config(v, config, missing)),
        _ => {}
    }
}

/// `v` with its placeholders filled; none for a placeholder without a value.
fn render(v: &Value, fill: &Fill<'_>) -> Option<Value> {
    Some(match v {
        Value::String(s) => match Placeholder::of(s) {
            Some(Placeholder::Cursor) => fill.cursor?.clone(),
            Some(Placeholder::Since) => fill.since?.clone(),
            Some(Placeholder::PageSize) => Value::from(fill.page_size),
            None => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|v| render(v, fill).unwrap_or(Value::Null)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().filter_map(|(k, v)| Some((k.clone(), render(v, fill)?))).collect::<Map<_, _>>())
        }
        _ => v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(text: &str, config: &[(&str, &str)]) -> Result<Template, String> {
        let lookup = |k: &str| config.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        Template::parse("body_template", text, &lookup)
    }

    fn rendered(t: &Template, cursor: Option<Value>, since: Option<Value>) -> Value {
        let fill = Fill { cursor: cursor.as_ref(), page_size: 25, since: since.as_ref() };
        serde_json::from_str(&t.render(&fill)).unwrap()
    }

    #[test]
    fn placeholders_become_json_values() {
        let t = parse(
            r#"{"start_cursor": "$cursor", "page_size": "$page_size", "filter": {"value": "$config.kind", "op": "$gt"},
                "search_after": "$cursor", "since": "$since", "list": ["$cursor", 1]}"#,
            &[("kind", "page \"quoted\"")],
        )
        .unwrap();
        assert!(t.uses(Placeholder::Cursor) && t.uses(Placeholder::Since) && t.uses(Placeholder::PageSize));
        assert_eq!(
            rendered(&t, None, None),
            json!({"page_size": 25, "filter": {"value": "page \"quoted\"", "op": "$gt"}, "list": [null, 1]})
        );
        assert_eq!(
            rendered(&t, Some(json!([1700000000, "x\"y"])), Some(json!("2026-01-01T00:00:00Z"))),
            json!({"start_cursor": [1700000000, "x\"y"], "page_size": 25, "filter": {"value": "page \"quoted\"", "op": "$gt"},
                   "search_after": [1700000000, "x\"y"], "since": "2026-01-01T00:00:00Z", "list": [[1700000000, "x\"y"], 1]})
        );
    }

    #[test]
    fn graphql_variables() {
        let t = parse(
            r#"{"query": "query($after: String, $first: Int) { items(after: $after, first: $first) { nodes { id } } }",
                "variables": {"after": "$cursor", "first": "$page_size"}}"#,
            &[],
        )
        .unwrap();
        let body = rendered(&t, Some(json!("Y3Vyc29yOjI=")), None);
        assert_eq!(body["variables"], json!({"after": "Y3Vyc29yOjI=", "first": 25}));
        assert!(body["query"].as_str().unwrap().starts_with("query($after: String"));
    }

    #[test]
    fn errors_name_the_key() {
        assert!(parse("{not json", &[]).unwrap_err().starts_with("config `body_template` is not JSON"));
        assert_eq!(
            parse("[1]", &[]).unwrap_err(),
            "config `body_template` must be a JSON object, such as `{\"start_cursor\": \"$cursor\"}`"
        );
        assert_eq!(
            parse(r#"{"q": "$config.query_text"}"#, &[]).unwrap_err(),
            "config `body_template` uses `$config.query_text`, but config `query_text` is not set"
        );
    }
}
