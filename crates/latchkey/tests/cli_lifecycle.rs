//! `latchkey credentials create --allow/--rate-limit`, `roll` and `renew` against a real
//! server.

mod common;

use common::{latchkey, server};
use latchkey_types::CredentialsFile;
use serde_json::json;

fn read(path: &std::path::Path) -> CredentialsFile {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("file")
}

#[tokio::test]
async fn roll_and_renew_write_new_files_and_the_old_secret_stops() {
    let server = server().await;
    let manager = server.write_file(
        "manager.json",
        &server
            .operator
            .credentials(json!({
                "name": "manager",
                "scopes": ["api:read", "api:write", "credentials:manage"],
            }))
            .await,
    );
    let original = server.path("job.json");
    let made = latchkey(
        &[
            "credentials",
            "create",
            "--name",
            "nightly job",
            "--expires",
            "2099-01-31T12:00:00Z",
            "--allow",
            "127.0.0.1",
            "--allow",
            "::1",
            "--rate-limit",
            "100",
            "--out",
            original.to_str().expect("utf-8"),
        ],
        Some(&manager),
    )
    .await;
    assert_eq!(made.code, 0, "{}{}", made.stdout, made.stderr);
    let job = read(&original);

    // A roll refuses an existing --out before asking the server: nothing is rolled.
    let refused = latchkey(
        &[
            "credentials",
            "roll",
            &job.client_id,
            "--out",
            original.to_str().expect("utf-8"),
        ],
        Some(&manager),
    )
    .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("exists already"),
        "{}",
        refused.stderr
    );
    assert_eq!(latchkey(&["token"], Some(&original)).await.code, 0);

    let bad = latchkey(
        &[
            "credentials",
            "roll",
            &job.client_id,
            "--overlap",
            "soon",
            "--out",
            "x.json",
        ],
        Some(&manager),
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("24h"), "{}", bad.stderr);

    let rolled_path = server.path("rolled.json");
    let rolled = latchkey(
        &[
            "credentials",
            "roll",
            &job.client_id,
            "--overlap",
            "0",
            "--out",
            rolled_path.to_str().expect("utf-8"),
        ],
        Some(&manager),
    )
    .await;
    assert_eq!(rolled.code, 0, "{}{}", rolled.stdout, rolled.stderr);
    let rolled_file = read(&rolled_path);
    assert_eq!(rolled_file.client_id, job.client_id);
    assert_ne!(rolled_file.client_secret, job.client_secret);
    assert_ne!(latchkey(&["token"], Some(&original)).await.code, 0);
    assert_eq!(latchkey(&["token"], Some(&rolled_path)).await.code, 0);

    let renewed_path = server.path("renewed.json");
    let renewed = latchkey(
        &[
            "credentials",
            "renew",
            &job.client_id,
            "--out",
            renewed_path.to_str().expect("utf-8"),
        ],
        Some(&manager),
    )
    .await;
    assert_eq!(renewed.code, 0, "{}{}", renewed.stdout, renewed.stderr);
    let renewed_file = read(&renewed_path);
    assert_ne!(renewed_file.client_id, job.client_id);
    assert_eq!(renewed_file.name, "nightly job");
    assert!(renewed_file.expires.is_some());
    let list = latchkey(&["credentials", "list", "--output", "json"], Some(&manager)).await;
    let listed: Vec<latchkey_types::Credential> =
        serde_json::from_str(&list.stdout).expect("JSON list");
    let copy = listed
        .iter()
        .find(|c| c.client_id == renewed_file.client_id)
        .expect("the renewed credential is listed");
    assert_eq!(
        copy.allowed_networks,
        Some(vec!["127.0.0.1/32".to_owned(), "::1/128".to_owned()])
    );
    assert_eq!(copy.rate_limit_per_minute, Some(100));

    // Limits replace both: no --allow is anywhere again.
    let limited = latchkey(
        &[
            "credentials",
            "limits",
            &renewed_file.client_id,
            "--rate-limit",
            "5",
        ],
        Some(&manager),
    )
    .await;
    assert_eq!(limited.code, 0, "{}", limited.stderr);
    assert!(
        limited.stdout.contains("from anywhere"),
        "{}",
        limited.stdout
    );
    let bad = latchkey(
        &[
            "credentials",
            "limits",
            &renewed_file.client_id,
            "--allow",
            "10.0.0.0/99",
        ],
        Some(&manager),
    )
    .await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("10.0.0.0/99"), "{}", bad.stderr);
    let list = latchkey(&["credentials", "list", "--output", "json"], Some(&manager)).await;
    let listed: Vec<latchkey_types::Credential> =
        serde_json::from_str(&list.stdout).expect("JSON list");
    let limited = listed
        .iter()
        .find(|c| c.client_id == renewed_file.client_id)
        .expect("listed");
    assert_eq!(limited.allowed_networks, None);
    assert_eq!(limited.rate_limit_per_minute, Some(5));
    let table = latchkey(&["credentials", "list"], Some(&manager)).await;
    assert!(table.stdout.contains("FROM"), "{}", table.stdout);
    assert!(
        table.stdout.contains("127.0.0.1"),
        "the last use's address: {}",
        table.stdout
    );
}
