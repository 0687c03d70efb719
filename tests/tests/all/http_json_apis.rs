//! `guests/http-json` against real partner API styles, by manifest alone: loopback
//! servers serve pages shaped like the real APIs' (OData, JSON:API, HAL, Stripe,
//! Notion, GraphQL, Slack), and the connector runs in the real host binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tests::upstream::{Reply, Seen, Upstream};
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// Places the http-json connector in `dir` as `api.wasm` with `config`, allowed to
/// reach `up` only.
fn connector(dir: &Path, up: &Upstream, config: &[(&str, &str)]) -> PathBuf {
    let path = place(HTTP_JSON_WASM, dir, "api");
    let mut m = String::from("name = \"api\"\nsource = \"api-source\"\n[config]\n");
    m.push_str(&format!("base_url = {}\n", quote(&up.origin())));
    for (k, v) in config {
        m.push_str(&format!("{k} = {}\n", quote(v)));
    }
    m.push_str(&format!("[http]\nallow = [{}]\n", quote(&up.origin())));
    std::fs::write(dir.join("api.toml"), m).unwrap();
    path
}

/// One run; with `store`, against the SQLite store in `dir` (and `--out-all`, so that
/// the envelopes returned are every one sealed, unchanged ones too).
fn run(dir: &Path, wasm: &Path, store: bool) -> (Output, Value, Vec<Value>) {
    let report = dir.join("report.json");
    let out = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&out);
    let mut cmd = host(&dir.join("cache"));
    cmd.arg("run").arg(wasm).arg("--report").arg(&report).arg("--out").arg(&out);
    if store {
        cmd.arg("--store").arg(format!("sqlite:{}", dir.join("state.db").display())).arg("--out-all");
    }
    let o = output(&mut cmd);
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    (o, report, jsonl(&std::fs::read(&out).unwrap_or_default()))
}

fn ids(envelopes: &[Value]) -> Vec<String> {
    envelopes.iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect()
}

fn query(seen: &Seen, key: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://x{}", seen.path)).unwrap();
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn path_of(seen: &Seen) -> &str {
    seen.path.split('?').next().unwrap()
}

fn body_of(seen: &Seen) -> Value {
    serde_json::from_slice(&seen.body).unwrap()
}

/// `n` items `{"id": prefix+i, "title": ...}`, i = 1..=n.
fn items(prefix: &str, n: usize) -> Vec<Value> {
    (1..=n).map(|i| json!({"id": format!("{prefix}{i}"), "title": format!("item {i}")})).collect()
}

/// Items `from..` (0-based) of `all`, at most `take`.
fn chunk(all: &[Value], from: usize, take: usize) -> Vec<Value> {
    all.iter().skip(from).take(take).cloned().collect()
}

#[test]
fn odata_next_links_relative_and_absolute_are_followed_and_item_etags_kept() {
    // SharePoint style: `$skip` is refused; the next link is relative on page 1 and
    // absolute on page 2.
    let origin = Arc::new(Mutex::new(String::new()));
    let o = origin.clone();
    let up = Upstream::start(move |s| {
        if s.path.contains("$skip=") {
            return Reply::json(400, &json!({"error": {"code": "-1", "message": "$skip is not supported"}}));
        }
        let all: Vec<Value> = (1..=7)
            .map(|i| json!({"@odata.etag": format!("\"{i},1\""), "Id": i, "Title": format!("doc {i}")}))
            .collect();
        let (from, next) = match query(s, "$skiptoken").as_deref() {
            None => (0, json!("items?$skiptoken=Paged%3DTRUE%26p_ID%3D3&$top=3")),
            Some("Paged=TRUE&p_ID=3") => (
                3,
                json!(format!("{}/_api/web/lists/items?$skiptoken=Paged%3DTRUE%26p_ID%3D6&$top=3", o.lock().unwrap())),
            ),
            _ => (6, Value::Null),
        };
        let mut page = json!({"odata.metadata": "x", "value": chunk(&all, from, 3)});
        if !next.is_null() {
            page["@odata.nextLink"] = next;
        }
        Reply::json(200, &page)
    });
    *origin.lock().unwrap() = up.origin();
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[
            ("path", "/_api/web/lists/items"),
            ("query", "$top=3"),
            ("items_pointer", "/value"),
            ("id_field", "Id"),
            ("title_field", "Title"),
            ("etag_field", "@odata.etag"),
            ("pagination", "next_url"),
            ("next_url_pointer", "/@odata.nextLink"),
        ],
    );
    let (out, report, envelopes) = run(dir.path(), &wasm, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(envelopes[4]["provenance"]["etag"], "\"5,1\"");
    assert_eq!(envelopes[4]["metadata"]["title"], "doc 5");
    assert_eq!(report["pages"], 3);
    let paths: Vec<String> = up.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/_api/web/lists/items?$top=3",
            "/_api/web/lists/items?$skiptoken=Paged%3DTRUE%26p_ID%3D3&$top=3",
            "/_api/web/lists/items?$skiptoken=Paged%3DTRUE%26p_ID%3D6&$top=3",
        ]
    );
}

#[test]
fn json_api_links_next_and_hal_links_next_href() {
    let up = Upstream::start(|s| {
        let all = items("a", 5);
        let page: usize = query(s, "page[number]").or(query(s, "page")).map_or(1, |p| p.parse().unwrap());
        let data = chunk(&all, (page - 1) * 2, 2);
        let more = page < 3;
        match path_of(s) {
            "/jsonapi" => {
                let next = more.then(|| format!("/jsonapi?page[number]={}", page + 1));
                Reply::json(200, &json!({"data": data, "links": {"self": s.path, "next": next}}))
            }
            _ => {
                let mut links = json!({"self": {"href": s.path}});
                if more {
                    links["next"] = json!({"href": format!("/hal?page={}", page + 1)});
                }
                Reply::json(200, &json!({"_embedded": {"items": data}, "_links": links}))
            }
        }
    });
    for (path, items_pointer, next) in
        [("/jsonapi", "/data", "/links/next"), ("/hal", "/_embedded/items", "/_links/next/href")]
    {
        let dir = scratch(&[]);
        let wasm = connector(
            dir.path(),
            &up,
            &[
                ("path", path),
                ("id_field", "id"),
                ("items_pointer", items_pointer),
                ("pagination", "next_url"),
                ("next_url_pointer", next),
            ],
        );
        let (out, report, envelopes) = run(dir.path(), &wasm, false);
        assert!(out.status.success(), "{path}: {}", stderr(&out));
        assert_eq!(ids(&envelopes), ["a1", "a2", "a3", "a4", "a5"], "{path}");
        assert_eq!(report["pages"], 3, "{path}");
        assert_eq!(report["skipped"], 0, "{path}: {report}");
    }
}

#[test]
fn stripe_style_has_more_sends_the_last_id() {
    let up = Upstream::start(|s| {
        let all = items("cus_", 7);
        let limit: usize = query(s, "limit").unwrap().parse().unwrap();
        let from = match query(s, "starting_after") {
            None => 0,
            Some(id) => all.iter().position(|i| i["id"] == id.as_str()).unwrap() + 1,
        };
        let data = chunk(&all, from, limit);
        Reply::json(
            200,
            &json!({"object": "list", "url": "/v1/customers", "data": data, "has_more": from + limit < all.len()}),
        )
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[
            ("path", "/v1/customers"),
            ("id_field", "id"),
            ("items_pointer", "/data"),
            ("pagination", "has_more"),
            ("last_id_param", "starting_after"),
            ("per_page_param", "limit"),
            ("page_size", "3"),
        ],
    );
    let (out, _, envelopes) = run(dir.path(), &wasm, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["cus_1", "cus_2", "cus_3", "cus_4", "cus_5", "cus_6", "cus_7"]);
    let after: Vec<Option<String>> = up.seen().iter().map(|s| query(s, "starting_after")).collect();
    assert_eq!(after, [None, Some("cus_3".into()), Some("cus_6".into())]);
}

#[test]
fn notion_style_post_search_carries_the_cursor_in_the_body() {
    let up = Upstream::start(|s| {
        assert_eq!((s.method.as_str(), path_of(s)), ("POST", "/v1/search"));
        let all = items("page-", 5);
        let body = body_of(s);
        let size = body["page_size"].as_u64().unwrap() as usize;
        let from: usize = body["start_cursor"].as_str().map_or(0, |c| c.trim_start_matches("cur-").parse().unwrap());
        let more = from + size < all.len();
        Reply::json(
            200,
            &json!({"object": "list", "results": chunk(&all, from, size),
                    "next_cursor": if more { json!(format!("cur-{}", from + size)) } else { Value::Null }, "has_more": more}),
        )
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[
            ("path", "/v1/search"),
            ("id_field", "id"),
            ("items_pointer", "/results"),
            ("method", "POST"),
            (
                "body_template",
                r#"{"start_cursor": "$cursor", "page_size": "$page_size", "filter": {"property": "object", "value": "$config.object_kind"}}"#,
            ),
            ("object_kind", "page"),
            ("pagination", "cursor"),
            ("cursor_pointer", "/next_cursor"),
            ("has_more_pointer", "/has_more"),
            ("page_size", "2"),
        ],
    );
    let (out, report, envelopes) = run(dir.path(), &wasm, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["page-1", "page-2", "page-3", "page-4", "page-5"]);
    let bodies: Vec<Value> = up.seen().iter().map(body_of).collect();
    let filter = json!({"property": "object", "value": "page"});
    assert_eq!(
        bodies,
        [
            json!({"page_size": 2, "filter": filter}),
            json!({"start_cursor": "cur-2", "page_size": 2, "filter": filter}),
            json!({"start_cursor": "cur-4", "page_size": 2, "filter": filter}),
        ]
    );
    assert_eq!(up.seen()[0].header("content-type"), Some("application/json"));
    assert_eq!(report["skipped"], 0);
}

#[test]
fn graphql_page_info_and_graphql_errors() {
    let fail = Arc::new(AtomicUsize::new(0));
    let f = fail.clone();
    let up = Upstream::start(move |s| {
        match f.load(Ordering::SeqCst) {
            1 => {
                return Reply::json(
                    200,
                    &json!({"data": null, "errors": [{"message": "Bad credentials", "extensions": {"code": "UNAUTHENTICATED"}}]}),
                );
            }
            2 => {
                return Reply::json(
                    200,
                    &json!({"errors": [{"message": "Field 'nodez' doesn't exist on type 'IssueConnection'"}]}),
                );
            }
            _ => {}
        }
        let all = items("I_", 5);
        let vars = &body_of(s)["variables"];
        let first = vars["first"].as_u64().unwrap() as usize;
        let from: usize = vars["after"].as_str().map_or(0, |c| c.parse().unwrap());
        let more = from + first < all.len();
        Reply::json(
            200,
            &json!({"data": {"repository": {"issues": {"nodes": chunk(&all, from, first),
                    "pageInfo": {"endCursor": (from + first).to_string(), "hasNextPage": more}}}}}),
        )
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[
            ("path", "/graphql"),
            ("id_field", "id"),
            ("method", "POST"),
            (
                "body_template",
                r#"{"query": "query($after: String, $first: Int!) { repository(owner: \"o\", name: \"r\") { issues(first: $first, after: $after) { nodes { id title } pageInfo { endCursor hasNextPage } } } }", "variables": {"after": "$cursor", "first": "$page_size"}}"#,
            ),
            ("items_pointer", "/data/repository/issues/nodes"),
            ("pagination", "cursor"),
            ("cursor_pointer", "/data/repository/issues/pageInfo/endCursor"),
            ("has_more_pointer", "/data/repository/issues/pageInfo/hasNextPage"),
            ("error_pointer", "/errors"),
            ("page_size", "2"),
        ],
    );
    let (out, _, envelopes) = run(dir.path(), &wasm, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["I_1", "I_2", "I_3", "I_4", "I_5"]);
    let afters: Vec<Value> = up.seen().iter().map(|s| body_of(s)["variables"]["after"].clone()).collect();
    assert_eq!(afters, [Value::Null, json!("2"), json!("4")], "no `after` on the first page");

    fail.store(1, Ordering::SeqCst);
    let (out, report, _) = run(dir.path(), &wasm, false);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["case"], "auth", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("`UNAUTHENTICATED`: Bad credentials"), "{message}");
    fail.store(2, Ordering::SeqCst);
    let (out, report, _) = run(dir.path(), &wasm, false);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["case"], "api", "{report}");
    assert!(report["error"]["message"].as_str().unwrap().contains("doesn't exist"), "{report}");
}

/// Slack answers 200 with `ok: false`: an auth-like code revokes the connector, as
/// a 401 would, instead of a parse error that only degrades it.
#[test]
fn slack_style_ok_false_is_auth_and_revokes() {
    let answer = Arc::new(AtomicUsize::new(0));
    let a = answer.clone();
    let up = Upstream::start(move |_| match a.load(Ordering::SeqCst) {
        0 => Reply::json(200, &json!({"ok": true, "messages": items("m", 2), "has_more": false})),
        1 => Reply::json(200, &json!({"ok": false, "error": "invalid_auth"})),
        _ => Reply::json(200, &json!({"ok": false, "error": "channel_not_found"})),
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[
            ("path", "/api/conversations.history"),
            ("query", "channel=C1"),
            ("id_field", "id"),
            ("items_pointer", "/messages"),
            ("pagination", "cursor"),
            ("cursor_pointer", "/response_metadata/next_cursor"),
            ("cursor_param", "cursor"),
            ("has_more_pointer", "/has_more"),
            ("ok_pointer", "/ok"),
        ],
    );
    let (out, _, envelopes) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["m1", "m2"]);

    answer.store(1, Ordering::SeqCst);
    let (out, report, _) = run(dir.path(), &wasm, true);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["case"], "auth", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("answered 200 but its body reports an error: `invalid_auth`"), "{message}");
    let store = format!("sqlite:{}", dir.path().join("state.db").display());
    let (_, states) = connector_status(&dir.path().join("cache"), &store, "api");
    assert_eq!(states.last().map(String::as_str), Some("revoked"), "{states:?}");

    answer.store(2, Ordering::SeqCst);
    let (out, report, _) = run(dir.path(), &wasm, false);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["case"], "api", "{report}");
    assert!(report["error"]["message"].as_str().unwrap().contains("`channel_not_found`"));
}

#[test]
fn a_mode_that_ignores_has_more_reports_the_truncation() {
    let up = Upstream::start(|_| Reply::json(200, &json!({"data": items("x", 3), "has_more": true})));
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[("path", "/items"), ("id_field", "id"), ("items_pointer", "/data"), ("pagination", "none")],
    );
    let (out, report, envelopes) = run(dir.path(), &wasm, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["x1", "x2", "x3"]);
    assert_eq!(report["skipped"], 1, "{report}");
    let problem = &report["problems"][0];
    assert_eq!(problem["kind"], "skipped");
    assert_eq!(problem["where"], "page 1");
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .starts_with("the body says there is more (`has_more: true`) but pagination = none ignores it"),
        "{problem}"
    );
    assert!(stderr(&out).contains("the body says there is more"), "a warning in the log:\n{}", stderr(&out));
}

/// Four pages, each with its own ETag; between runs an item on page 3 changes. The
/// second run sends every page's ETag, gets 304 for pages 1, 2 and 4 and sees the edit.
#[test]
fn per_page_etags_see_an_edit_on_page_3() {
    let version = Arc::new(AtomicUsize::new(1));
    let v = version.clone();
    let up = Upstream::start(move |s| {
        let page: usize = query(s, "page").map_or(1, |p| p.parse().unwrap());
        let edit = if page == 3 { v.load(Ordering::SeqCst) } else { 1 };
        let etag = format!("\"p{page}-v{edit}\"");
        if s.header("if-none-match") == Some(etag.as_str()) {
            return Reply::text(304, &[("etag", &etag)], "");
        }
        let mut data = chunk(&items("e", 8), (page - 1) * 2, 2);
        if edit > 1 {
            data[0]["title"] = json!(format!("edited {edit}"));
        }
        let mut headers = vec![("content-type", "application/json".to_string()), ("etag", etag)];
        if page < 4 {
            headers.push(("link", format!("</items?page={}>; rel=\"next\"", page + 1)));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Reply::text(200, &headers, &Value::Array(data).to_string())
    });
    let dir = scratch(&[]);
    let wasm = connector(dir.path(), &up, &[("path", "/items"), ("id_field", "id"), ("title_field", "title")]);
    let (out, first, _) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(first["published"], 8);
    assert!(up.seen().iter().all(|s| s.header("if-none-match").is_none()));

    version.store(2, Ordering::SeqCst);
    let before = up.seen().len();
    let (out, second, envelopes) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = &up.seen()[before..];
    let sent: Vec<Option<&str>> = seen.iter().map(|s| s.header("if-none-match")).collect();
    assert_eq!(sent, [Some("\"p1-v1\""), Some("\"p2-v1\""), Some("\"p3-v1\""), Some("\"p4-v1\"")]);
    assert_eq!(second["fetched"], 2, "only page 3 came back with a body: {second}");
    assert_eq!(second["published"], 1, "{second}");
    // `--out-all` writes every envelope sealed, the unchanged one too: page 3's.
    assert_eq!(ids(&envelopes), ["e5", "e6"]);
    assert_eq!(envelopes[0]["metadata"]["title"], "edited 2");
    let log = stderr(&out);
    assert!(log.contains("page 4 (GET ") && log.contains("not modified since the last pass (304)"), "{log}");

    // Nothing changed: four 304s, nothing fetched.
    let (out, third, _) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(third["fetched"], 0, "{third}");
    assert_eq!(up.seen().len(), before + 8);
}

/// Incremental sync over three runs: a full read first, then `updated_since` = the
/// highest `updated_at` seen minus the one-hour look-back.
#[test]
fn incremental_sync_over_three_runs_with_a_lookback() {
    let data = Arc::new(Mutex::new(vec![
        json!({"id": 1, "updated_at": "2026-03-01T10:00:00Z"}),
        json!({"id": 2, "updated_at": "2026-03-01T12:00:00Z"}),
        json!({"id": 3, "updated_at": "2026-03-01T09:30:00+01:00"}),
    ]));
    let d = data.clone();
    let up = Upstream::start(move |s| {
        let since = query(s, "updated_since");
        let all = d.lock().unwrap().clone();
        // Lexical comparison is enough for these UTC `Z` times and the bound's form.
        let chosen: Vec<Value> = all
            .into_iter()
            .filter(|i| since.as_deref().is_none_or(|b| i["updated_at"].as_str().unwrap() >= b))
            .collect();
        let page: usize = query(s, "page").unwrap().parse().unwrap();
        Reply::json(200, &json!({"items": chunk(&chosen, (page - 1) * 2, 2)}))
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        &up,
        &[
            ("path", "/items"),
            ("id_field", "id"),
            ("items_pointer", "/items"),
            ("pagination", "page"),
            ("per_page_param", "per_page"),
            ("page_size", "2"),
            ("incremental_field", "updated_at"),
            ("incremental_param", "updated_since"),
            ("incremental_lookback", "1h"),
        ],
    );
    let (out, first, _) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(first["published"], 3);
    assert!(up.seen().iter().all(|s| query(s, "updated_since").is_none()), "the first run is a full read");

    // Run 2: item 2 edited, item 4 new; the bound is 12:00 - 1h on every page.
    {
        let mut d = data.lock().unwrap();
        d[1] = json!({"id": 2, "updated_at": "2026-03-01T13:00:00Z", "edited": true});
        d.push(json!({"id": 4, "updated_at": "2026-03-01T12:30:00Z"}));
    }
    let before = up.seen().len();
    let (out, second, envelopes) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    let bounds: Vec<Option<String>> = up.seen()[before..].iter().map(|s| query(s, "updated_since")).collect();
    let bound = Some("2026-03-01T11:00:00Z".to_string());
    assert_eq!(bounds, [bound.clone(), bound]);
    assert_eq!(second["fetched"], 2, "{second}");
    assert_eq!(ids(&envelopes), ["2", "4"]);

    // Run 3: nothing new; the bound moved to 13:00 - 1h; item 2 is seen again within
    // the look-back and counted unchanged.
    let before = up.seen().len();
    let (out, third, envelopes) = run(dir.path(), &wasm, true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(query(&up.seen()[before], "updated_since").as_deref(), Some("2026-03-01T12:00:00Z"));
    assert_eq!(third["fetched"], 2, "{third}");
    assert_eq!(third["published"], 0, "{third}");
    assert_eq!(ids(&envelopes), ["2", "4"], "read again inside the look-back, stored as unchanged");
}

#[test]
fn a_stored_next_url_cursor_follows_a_move_of_base_url() {
    // The old host answers page 1 with an absolute next link on itself, then fails
    // page 2: the stored cursor points to page 2.
    let serve = |fail_page_2: bool| {
        move |s: &Seen| {
            let page: usize = query(s, "page").map_or(1, |p| p.parse().unwrap());
            if fail_page_2 && page == 2 {
                return Reply::json(400, &json!({"error": "moved"}));
            }
            let next = (page < 3).then(|| format!("http://{}/items?page={}", s.header("host").unwrap(), page + 1));
            Reply::json(200, &json!({"data": chunk(&items("m", 6), (page - 1) * 2, 2), "next": next}))
        }
    };
    let old = Upstream::start(serve(true));
    let dir = scratch(&[]);
    let config = [
        ("path", "/items"),
        ("id_field", "id"),
        ("items_pointer", "/data"),
        ("pagination", "next_url"),
        ("next_url_pointer", "/next"),
    ];
    let wasm = connector(dir.path(), &old, &config);
    let (first, _, _) = run(dir.path(), &wasm, true);
    assert_eq!(first.status.code(), Some(4), "{}", stderr(&first));
    let shown = output(
        host(&dir.path().join("cache"))
            .args(["cursor", "show", "api", "--store"])
            .arg(format!("sqlite:{}", dir.path().join("state.db").display())),
    );
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        "v2:2:url:/items?page=2\n",
        "{}\n{}",
        stderr(&first),
        stderr(&shown)
    );

    // The API moved: the new base_url's host resumes at page 2; the old one is not asked.
    let new = Upstream::start(serve(false));
    connector(dir.path(), &new, &config);
    let asked_before = old.seen().len();
    let (second, report, envelopes) = run(dir.path(), &wasm, true);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(ids(&envelopes), ["m3", "m4", "m5", "m6"]);
    assert_eq!(report["pages"], 2);
    assert_eq!(old.seen().len(), asked_before);
    let paths: Vec<String> = new.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/items?page=2", "/items?page=3"]);
}

#[test]
fn through_host_serve_a_graph_style_list_with_oauth2_a_plain_header_and_incremental_sync() {
    use tests::daemon::Daemon;
    const SECRET: &str = "graph-client-secret-0123456789";
    let tokens = Upstream::start(|s| {
        let form = String::from_utf8_lossy(&s.body).into_owned();
        if !form.contains(&format!("client_secret={SECRET}")) || !form.contains("client_id=graph-app") {
            return Reply::json(401, &json!({"error": "invalid_client"}));
        }
        Reply::json(
            200,
            &json!({"access_token": "graph-access-token-abcdefgh", "token_type": "Bearer", "expires_in": 3600}),
        )
    });
    let data = Arc::new(Mutex::new(vec![
        json!({"id": "u1", "lastModifiedDateTime": "2026-05-01T10:00:00Z"}),
        json!({"id": "u2", "lastModifiedDateTime": "2026-05-01T11:00:00Z"}),
        json!({"id": "u3", "lastModifiedDateTime": "2026-05-01T12:00:00Z"}),
    ]));
    let d = data.clone();
    let up = Upstream::start(move |s| {
        if s.header("authorization") != Some("Bearer graph-access-token-abcdefgh") {
            return Reply::json(401, &json!({"error": {"code": "InvalidAuthenticationToken"}}));
        }
        if s.header("prefer") != Some("odata.maxpagesize=2") {
            return Reply::json(400, &json!({"error": {"code": "MissingPrefer"}}));
        }
        let since = query(s, "since");
        let chosen: Vec<Value> = d
            .lock()
            .unwrap()
            .iter()
            .filter(|i| since.as_deref().is_none_or(|b| i["lastModifiedDateTime"].as_str().unwrap() >= b))
            .cloned()
            .collect();
        let from: usize = query(s, "$skiptoken").map_or(0, |t| t.parse().unwrap());
        let mut page = json!({"value": chunk(&chosen, from, 2)});
        if from + 2 < chosen.len() {
            let mut next = format!("/v1.0/users?$skiptoken={}", from + 2);
            if let Some(b) = &since {
                next.push_str(&format!("&since={b}"));
            }
            page["@odata.nextLink"] = json!(next);
        }
        Reply::json(200, &page)
    });
    let dir = scratch(&[]);
    let store = format!("sqlite:{}", dir.path().join("serve.db").display());
    let config = dir.path().join("connectors.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nstore = {}\n\n[[connectors]]\nname = \"users\"\ncomponent = {}\npoll_interval = \"1h\"\n\
             [connectors.manifest]\n[connectors.manifest.config]\nbase_url = {}\npath = \"/v1.0/users\"\nid_field = \"id\"\n\
             items_pointer = \"/value\"\npagination = \"next_url\"\nnext_url_pointer = \"/@odata.nextLink\"\n\
             incremental_field = \"lastModifiedDateTime\"\nincremental_param = \"since\"\n\
             [connectors.manifest.http]\nallow = [{}]\n\
             [connectors.manifest.http.headers]\nPrefer = \"odata.maxpagesize=2\"\n\
             [[connectors.manifest.http.secrets]]\nhost = \"127.0.0.1\"\n\
             oauth2 = {{ token_url = {}, client_id = \"graph-app\", client_secret = {{ from_env = \"GRAPH_SECRET\" }} }}\n",
            quote(&store),
            quote(HTTP_JSON_WASM),
            quote(&up.origin()),
            quote(&up.origin()),
            quote(&format!("{}/tenant/oauth2/v2.0/token", tokens.origin())),
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", tests::daemon::free_port());
    let mut daemon = Daemon::start_with(dir.path(), &config, &listen, None, &[("GRAPH_SECRET", SECRET)]);
    let status = daemon.wait_for("/connectors/users", std::time::Duration::from_secs(60), |v| v["status"]["runs"] == 1);
    assert_eq!(status["status"]["last_run"]["published"], 3, "{status}");

    // An edit: the next run asks only for what changed since the mark.
    data.lock().unwrap()[1] = json!({"id": "u2", "lastModifiedDateTime": "2026-05-01T13:00:00Z", "edited": true});
    let before = up.seen().len();
    let (code, body) = daemon.post("/connectors/users/run");
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["published"], 1, "{report}");
    assert_eq!(report["http"]["token_requests"], 0, "the token is cached across runs: {report}");
    assert_eq!(query(&up.seen()[before], "since").as_deref(), Some("2026-05-01T12:00:00Z"));
    assert_eq!(tokens.seen().len(), 1);
    daemon.terminate();

    let queued = output(host(&dir.path().join("cache")).args(["queue", "--limit", "100", "--store", &store]));
    let queued = jsonl(&queued.stdout);
    assert_eq!(ids(&queued), ["u1", "u2", "u3", "u2"]);
    assert_eq!(queued[1]["superseded"], true, "the first version of u2 was replaced");
    let edited: Value = serde_json::from_str(queued[3]["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(edited["raw"]["edited"], true);
    let log = daemon.log_text();
    assert!(!log.contains(SECRET) && !log.contains("graph-access-token-abcdefgh"), "{log}");
}
