//! The real `latchkey audit` command against a real server started in this process.

mod common;

use serde_json::{Value, json};

use common::{EMAIL, latchkey, server};

#[tokio::test]
async fn audit_prints_pages_as_json_and_every_event_as_json_lines() {
    let server = server().await;
    for name in ["one", "two", "three"] {
        let _ = server.operator.credentials(json!({ "name": name })).await;
    }
    let reader = server.write_file(
        "reader.json",
        &server
            .operator
            .credentials(json!({ "name": "reader", "scopes": ["api:read"] }))
            .await,
    );

    let lines = latchkey(&["audit", "--format", "jsonl"], Some(&reader)).await;
    assert_eq!(lines.code, 0, "{}", lines.stderr);
    let events: Vec<Value> = lines
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(events.len(), 5, "the sign-in and four credentials");
    assert!(events.iter().all(|e| e["actor"]["email"] == EMAIL));

    let page = latchkey(
        &[
            "audit",
            "--action",
            "create_credential",
            "--since",
            "2020-01-01T00:00:00Z",
            "--limit",
            "2",
        ],
        Some(&reader),
    )
    .await;
    assert_eq!(page.code, 0, "{}", page.stderr);
    let page: Vec<Value> = serde_json::from_str(&page.stdout).expect("a JSON array");
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|e| e["action"] == "create_credential"));
    assert_eq!(page[0]["actor"]["email"], EMAIL);

    let next = latchkey(&["audit", "--limit", "4"], Some(&reader)).await;
    assert!(next.stderr.contains("--cursor "), "{}", next.stderr);
    let cursor = next
        .stderr
        .split("--cursor ")
        .nth(1)
        .expect("cursor")
        .trim()
        .to_owned();
    let rest = latchkey(&["audit", "--cursor", &cursor], Some(&reader)).await;
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    let rest: Vec<Value> = serde_json::from_str(&rest.stdout).expect("a JSON array");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["action"], "sign_in");

    let bad = latchkey(&["audit", "--since", "yesterday"], Some(&reader)).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
    let junk = latchkey(&["audit", "--cursor", "junk"], Some(&reader)).await;
    assert_ne!(junk.code, 0);
    assert!(junk.stderr.contains("invalid_cursor"), "{}", junk.stderr);
}
