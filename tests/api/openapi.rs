//! The checked-in OpenAPI document must equal what the code generates.
//! Regenerate on purpose with `BLESS=1 cargo test --test api openapi`.

#[test]
fn checked_in_openapi_document_matches_the_code() {
    let generated = safegrid::openapi::document_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var("BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).expect("write openapi/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/openapi.json is out of date: run `BLESS=1 cargo test --test api openapi` and commit it"
    );
}
