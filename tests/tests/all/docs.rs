//! The reference docs state the defaults the host uses: each default in
//! docs/manifest.md's `[limits]` table is the manifest schema's, which a unit test
//! of `host::manifest` ties to the Rust defaults.

#[test]
fn the_limits_table_in_the_docs_gives_the_schemas_defaults() {
    let docs = std::fs::read_to_string(tests::root().join("docs/manifest.md")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tests::root().join("schemas/connector_manifest.schema.json")).unwrap(),
    )
    .unwrap();
    let limits = schema["properties"]["limits"]["properties"].as_object().unwrap();
    let table = docs.split("`[limits]` keys:").nth(1).expect("docs/manifest.md has the `[limits]` table");
    let mut rows = 0;
    for line in table.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let key = cells[1].trim_matches('`');
        let prop = limits.get(key).unwrap_or_else(|| panic!("the docs list `{key}`, which the schema does not"));
        match (cells[2].parse::<f64>(), prop["default"].as_f64()) {
            (Ok(docs), Some(schema)) => assert_eq!(docs, schema, "`{key}`: the docs say {docs}, the schema {schema}"),
            // A default that is not a number (`the memory cap`) has none in the schema either.
            (Err(_), None) => {}
            (d, s) => panic!("`{key}`: the docs say {:?}, the schema {s:?}", d.map_err(|_| cells[2])),
        }
        rows += 1;
    }
    assert_eq!(rows, limits.len(), "the table lists every key of `[limits]`");
}
