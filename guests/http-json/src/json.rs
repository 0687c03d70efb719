//! Finding values in JSON: configured fields of an item, and JSON pointers into a
//! response body that is kept as raw text (so that each item's text is passed on
//! untouched, not re-serialised).

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

/// A configured field of an item: a top-level key (`id`), or a JSON pointer
/// (RFC 6901) when the text starts with `/` (`/meta/id`, `/tags/0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A top-level key, taken literally (it may contain dots or slashes after the first character).
    Key(String),
    /// A JSON pointer.
    Pointer(String),
}

impl Field {
    /// Parses the value of config `key`.
    pub fn parse(key: &str, text: &str) -> Result<Field, String> {
        if text.is_empty() {
            return Err(format!("config `{key}` is empty; expected a field name or a JSON pointer such as `/meta/id`"));
        }
        if text.starts_with('/') {
            check_pointer(key, text)?;
            Ok(Field::Pointer(text.to_string()))
        } else {
            Ok(Field::Key(text.to_string()))
        }
    }

    /// The field's value in `item`, if it has one.
    pub fn get<'a>(&self, item: &'a Value) -> Option<&'a Value> {
        match self {
            Field::Key(key) => item.get(key),
            Field::Pointer(pointer) => item.pointer(pointer),
        }
    }

    /// The field as configured, for messages.
    pub fn as_str(&self) -> &str {
        match self {
            Field::Key(s) | Field::Pointer(s) => s,
        }
    }
}

/// Checks that `text`, the value of config `key`, is a JSON pointer: empty (the whole
/// document) or `/`-separated tokens in which `~` is only `~0` or `~1`.
pub fn check_pointer(key: &str, text: &str) -> Result<(), String> {
    if !text.is_empty() && !text.starts_with('/') {
        return Err(format!("config `{key}` is `{text}`; a JSON pointer starts with `/` (did you mean `/{text}`?)"));
    }
    let bad_tilde = text.split('~').skip(1).any(|after| !after.starts_with(['0', '1']));
    if bad_tilde {
        return Err(format!(
            "config `{key}` is `{text}`; in a JSON pointer `~` must be written `~0` and `/` in a name `~1`"
        ));
    }
    Ok(())
}

/// A string or number as text; none for `null`, an empty string and anything else.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What kind of JSON value `v` is, for messages (`an array`, `a string`).
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at JSON pointer `pointer` (already checked with [`check_pointer`]) in
/// the document `root`, still as raw text; none if the path does not exist.
pub fn raw_at<'a>(root: &'a RawValue, pointer: &str) -> Result<Option<&'a RawValue>, serde_json::Error> {
    let mut current = root;
    if pointer.is_empty() {
        return Ok(Some(current));
    }
    for token in pointer[1..].split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        let text = current.get();
        let next = match text.trim_start().as_bytes().first() {
            Some(b'{') => {
                let mut map: BTreeMap<String, &'a RawValue> = serde_json::from_str(text)?;
                map.remove(&token)
            }
            Some(b'[') => {
                let mut items: Vec<&'a RawValue> = serde_json::from_str(text)?;
                match array_index(&token) {
                    Some(i) if i < items.len() => Some(items.swap_remove(i)),
                    _ => None,
                }
            }
            _ => None,
        };
        match next {
            Some(n) => current = n,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// A JSON pointer array index: digits without a leading zero (RFC 6901, section 4).
fn array_index(token: &str) -> Option<usize> {
    let ok =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    if ok { token.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_by_key_or_pointer() {
        let item = json!({"id": 7, "a.b": "dotted", "meta": {"id": "m-1", "x/y": 1, "t~": 2}, "tags": ["p", "q"]});
        let get = |text: &str| Field::parse("id_field", text).unwrap().get(&item).cloned();
        assert_eq!(get("id"), Some(json!(7)));
        assert_eq!(get("a.b"), Some(json!("dotted")));
        assert_eq!(get("/meta/id"), Some(json!("m-1")));
        assert_eq!(get("/meta/x~1y"), Some(json!(1)));
        assert_eq!(get("/meta/t~0"), Some(json!(2)));
        assert_eq!(get("/tags/1"), Some(json!("q")));
        assert_eq!(get("missing"), None);
        assert_eq!(get("/meta/missing"), None);
    }

    #[test]
    fn bad_field_configuration() {
        assert!(Field::parse("id_field", "").unwrap_err().contains("config `id_field` is empty"));
        assert!(Field::parse("id_field", "/a~2").unwrap_err().contains("`~0`"));
        assert!(check_pointer("items_pointer", "data").unwrap_err().contains("did you mean `/data`?"));
        assert!(check_pointer("items_pointer", "").is_ok());
        assert!(check_pointer("items_pointer", "/data/items").is_ok());
    }

    #[test]
    fn scalars_as_text() {
        assert_eq!(scalar(&json!("abc")).as_deref(), Some("abc"));
        assert_eq!(scalar(&json!(42)).as_deref(), Some("42"));
        assert_eq!(scalar(&json!(-3)).as_deref(), Some("-3"));
        assert_eq!(scalar(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(scalar(&json!("")), None);
        assert_eq!(scalar(&json!(null)), None);
        assert_eq!(scalar(&json!(true)), None);
        assert_eq!(scalar(&json!({"a": 1})), None);
    }

    #[test]
    fn raw_pointers_keep_the_text() {
        let body = r#"{"data": {"items": [ {"id":1,  "b": [1, 2]}, {"id":"x"} ], "a/b": 3, "": 4}, "next": null}"#;
        let root: &RawValue = serde_json::from_str(body).unwrap();
        let at = |p: &str| raw_at(root, p).unwrap().map(|r| r.get().to_string());
        assert_eq!(at("").as_deref(), Some(body));
        assert_eq!(at("/data/items/0").as_deref(), Some(r#"{"id":1,  "b": [1, 2]}"#));
        assert_eq!(at("/data/items/1/id").as_deref(), Some(r#""x""#));
        assert_eq!(at("/data/a~1b").as_deref(), Some("3"));
        assert_eq!(at("/data/").as_deref(), Some("4"));
        assert_eq!(at("/next").as_deref(), Some("null"));
        assert_eq!(at("/data/items/2"), None);
        assert_eq!(at("/data/items/01"), None);
        assert_eq!(at("/data/items/-"), None);
        assert_eq!(at("/missing/x"), None);
        assert_eq!(at("/data/a~1b/deeper"), None);
    }
}
