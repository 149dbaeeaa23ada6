//! The real `latchkey` binary's client commands — `doctor`, `token`, `call` — against
//! a real server, one test per verdict a person can meet.

mod common;

use std::path::PathBuf;

use common::{EMAIL, PASSWORD, Run, Server, Session, latchkey, server};

/// An organization with a workspace, a viewer and a developer in it, made through
/// the API as the operator; answers the workspace id and the two people's
/// credentials files.
async fn tenant(server: &Server) -> (String, PathBuf, PathBuf) {
    let organization = server
        .operator
        .call::<serde_json::Value>(
            reqwest::Method::POST,
            "/v1/organizations",
            serde_json::json!({ "name": "Acme" }),
            201,
        )
        .await;
    let organization_id = organization["id"].as_i64().expect("id");
    let workspace = server
        .operator
        .call::<serde_json::Value>(
            reqwest::Method::POST,
            "/v1/workspaces",
            serde_json::json!({ "name": "Lidar", "organizationId": organization_id }),
            201,
        )
        .await;
    let workspace_id = workspace["id"].as_str().expect("id").to_owned();
    let mut files = Vec::new();
    for role in ["viewer", "developer"] {
        let email = format!("{role}@acme.test");
        let user = server
            .operator
            .call::<serde_json::Value>(
                reqwest::Method::POST,
                "/v1/users",
                serde_json::json!({
                    "email": email, "name": role, "password": PASSWORD,
                    "organizationId": organization_id,
                }),
                201,
            )
            .await;
        server
            .operator
            .call::<serde_json::Value>(
                reqwest::Method::PUT,
                &format!(
                    "/v1/workspaces/{workspace_id}/members/{}",
                    user["id"].as_i64().expect("id")
                ),
                serde_json::json!({ "role": role }),
                200,
            )
            .await;
        let file = Session::sign_in(&server.base_url, &email, PASSWORD)
            .await
            .credentials(serde_json::json!({ "name": role }))
            .await;
        files.push(server.write_file(&format!("{role}.json"), &file));
    }
    let developer = files.pop().expect("developer");
    let viewer = files.pop().expect("viewer");
    (workspace_id, viewer, developer)
}

/// Asserts `doctor` failed at the check `name` with `needle` in its line.
fn failed_at(run: &Run, name: &str, needle: &str) {
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains(name))
        .unwrap_or_else(|| panic!("no failed {name} check in:\n{}", run.stdout));
    assert!(line.contains(needle), "{line}");
    assert!(run.stdout.contains("fix:"), "{}", run.stdout);
}

#[tokio::test]
async fn doctor_passes_healthy_credentials_and_says_what_they_can_do() {
    let server = server().await;
    let path = server.write_file(
        "ok.json",
        &server
            .operator
            .credentials(serde_json::json!({ "name": "ci" }))
            .await,
    );
    let run = latchkey(&["doctor"], Some(&path)).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for check in [
        "credentials",
        "secret",
        "expiry",
        "issuer",
        "token",
        "access",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check}: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains(EMAIL) && run.stdout.contains("api:read api:write"),
        "{}",
        run.stdout
    );

    let json = latchkey(&["doctor", "--output", "json"], Some(&path)).await;
    let checks: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert!(
        checks
            .as_array()
            .expect("list")
            .iter()
            .all(|c| c["ok"] == true)
    );
}

#[tokio::test]
async fn doctor_names_a_malformed_file_and_the_missing_key() {
    let server = server().await;
    failed_at(
        &latchkey(&["doctor"], Some(&server.write("bad.json", "{not json"))).await,
        "credentials",
        "not valid JSON",
    );
    let file = server
        .operator
        .credentials(serde_json::json!({ "name": "ci" }))
        .await;
    let mut value = serde_json::to_value(&file).expect("value");
    value.as_object_mut().expect("object").remove("issuer");
    let path = server.write("no-issuer.json", &value.to_string());
    failed_at(
        &latchkey(&["doctor"], Some(&path)).await,
        "credentials",
        "`issuer`",
    );
    failed_at(
        &latchkey(&["doctor"], Some(server.dir.path())).await,
        "credentials",
        "is a directory",
    );
}

#[tokio::test]
async fn doctor_spots_a_mistyped_secret_before_asking_the_server() {
    let server = server().await;
    let mut file = server
        .operator
        .credentials(serde_json::json!({ "name": "ci" }))
        .await;
    let last = file.client_secret.pop().expect("char");
    file.client_secret.push(if last == 'a' { 'b' } else { 'a' });
    let run = latchkey(&["doctor"], Some(&server.write_file("typo.json", &file))).await;
    failed_at(&run, "secret", "checksum");
}

#[tokio::test]
async fn doctor_reports_expired_and_deleted_credentials() {
    let server = server().await;
    let mut expired = server
        .operator
        .credentials(serde_json::json!({ "name": "old" }))
        .await;
    expired.expires = latchkey_types::Timestamp::parse("2020-01-01T00:00:00Z");
    failed_at(
        &latchkey(
            &["doctor"],
            Some(&server.write_file("expired.json", &expired)),
        )
        .await,
        "expiry",
        "2020-01-01",
    );

    let deleted = server
        .operator
        .credentials(serde_json::json!({ "name": "gone" }))
        .await;
    let path = server.write_file("deleted.json", &deleted);
    let response = server
        .operator
        .http
        .delete(format!(
            "{}/v1/credentials/{}",
            server.base_url, deleted.client_id
        ))
        .header("x-csrf-token", &server.operator.csrf)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    let run = latchkey(&["doctor"], Some(&path)).await;
    failed_at(&run, "token", "deleted");
    assert!(
        run.stdout.contains("generate new credentials"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn doctor_explains_disabled_rolled_and_fenced_credentials() {
    let server = server().await;
    let operator = &server.operator;
    let post = |path: String, body: serde_json::Value| {
        operator
            .http
            .post(format!("{}{path}", server.base_url))
            .header("x-csrf-token", &operator.csrf)
            .json(&body)
            .send()
    };

    let disabled = operator
        .credentials(serde_json::json!({ "name": "paused" }))
        .await;
    let response = post(
        format!("/v1/credentials/{}/disable", disabled.client_id),
        serde_json::json!({}),
    )
    .await
    .expect("disable");
    assert_eq!(response.status(), 204);
    let run = latchkey(
        &["doctor"],
        Some(&server.write_file("paused.json", &disabled)),
    )
    .await;
    failed_at(&run, "token", "disabled");
    assert!(run.stdout.contains("credentials enable"), "{}", run.stdout);

    let rolled = operator
        .credentials(serde_json::json!({ "name": "rolled" }))
        .await;
    let response = post(
        format!("/v1/credentials/{}/roll", rolled.client_id),
        serde_json::json!({ "overlapSeconds": 0 }),
    )
    .await
    .expect("roll");
    assert_eq!(response.status(), 201);
    let run = latchkey(
        &["doctor"],
        Some(&server.write_file("rolled.json", &rolled)),
    )
    .await;
    failed_at(&run, "token", "rolled");
    assert!(
        run.stdout.contains("newest credentials file"),
        "{}",
        run.stdout
    );

    let fenced = operator
        .credentials(serde_json::json!({ "name": "office", "allowedNetworks": ["192.0.2.0/24"] }))
        .await;
    let run = latchkey(
        &["doctor"],
        Some(&server.write_file("office.json", &fenced)),
    )
    .await;
    failed_at(&run, "token", "127.0.0.1");
    assert!(run.stdout.contains("allowed address"), "{}", run.stdout);
}

#[tokio::test]
async fn doctor_explains_a_wrong_or_unreachable_issuer() {
    let server = server().await;
    let mut file = server
        .operator
        .credentials(serde_json::json!({ "name": "ci" }))
        .await;
    file.issuer = server.base_url.replace("127.0.0.1", "localhost");
    failed_at(
        &latchkey(&["doctor"], Some(&server.write_file("wrong.json", &file))).await,
        "issuer",
        "says its issuer is",
    );
    file.issuer = "http://127.0.0.1:1".to_owned();
    failed_at(
        &latchkey(&["doctor"], Some(&server.write_file("down.json", &file))).await,
        "issuer",
        "cannot connect",
    );
}

#[tokio::test]
async fn token_and_call_work_and_call_exits_with_the_status_class() {
    let server = server().await;
    let path = server.write_file(
        "ok.json",
        &server
            .operator
            .credentials(serde_json::json!({ "name": "ci" }))
            .await,
    );
    let token = latchkey(&["token"], Some(&path)).await;
    assert_eq!(token.code, 0, "{}", token.stderr);
    assert_eq!(token.stdout.trim().split('.').count(), 3);
    let decoded = latchkey(&["token", "--decode"], Some(&path)).await;
    let claims: serde_json::Value = serde_json::from_str(&decoded.stdout).expect("json");
    assert_eq!(claims["header"]["alg"], "EdDSA");
    assert_eq!(claims["claims"]["iss"], server.base_url.as_str());
    let expires = claims["expires"].as_str().expect("exp in words");
    assert!(
        expires.ends_with(" UTC (in 59 min)") || expires.ends_with(" UTC (in 60 min)"),
        "{expires}"
    );

    let me = latchkey(&["call", "GET", "/v1/me"], Some(&path)).await;
    assert_eq!(me.code, 0, "{}", me.stderr);
    assert!(me.stdout.contains(EMAIL));
    let missing = latchkey(&["call", "GET", "/v1/nothing-here"], Some(&path)).await;
    assert_eq!(missing.code, 4);
    assert!(missing.stdout.contains("not_found"));
    let bad = latchkey(
        &["call", "POST", "/v1/credentials", "--data", "{oops"],
        Some(&path),
    )
    .await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("not valid JSON"), "{}", bad.stderr);
}

#[tokio::test]
async fn token_output_json_prints_the_token_or_its_claims_as_one_json_object() {
    let server = server().await;
    let file = server
        .operator
        .credentials(serde_json::json!({ "name": "scripted" }))
        .await;
    let path = server.write_file("scripted.json", &file);

    let token = latchkey(&["token", "--output", "json"], Some(&path)).await;
    assert_eq!(token.code, 0, "{}", token.stderr);
    let printed: serde_json::Value = serde_json::from_str(&token.stdout).expect("JSON out");
    let object = printed.as_object().expect("an object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["accessToken"]);
    let access = printed["accessToken"].as_str().expect("a string");
    assert_eq!(access.split('.').count(), 3, "a JWT: {access}");

    let decoded = latchkey(&["token", "--decode", "--output", "json"], Some(&path)).await;
    assert_eq!(decoded.code, 0, "{}", decoded.stderr);
    let claims: serde_json::Value = serde_json::from_str(&decoded.stdout).expect("JSON out");
    assert_eq!(claims["header"]["alg"], "EdDSA");
    assert_eq!(claims["claims"]["iss"], server.base_url.as_str());
    assert_eq!(claims["claims"]["client_id"], file.client_id.as_str());
    assert!(
        claims.get("expires").is_none(),
        "scripts get the claims alone"
    );

    let wrong = latchkey(&["token", "--output", "yaml"], Some(&path)).await;
    assert_eq!(wrong.code, 2, "a usage error: {}", wrong.stderr);
    assert!(wrong.stdout.is_empty(), "no token on a usage error");
}

#[tokio::test]
async fn doctor_check_names_the_missing_scope_or_role_and_passes_an_allowed_call() {
    let server = server().await;
    let (workspace_id, viewer, developer) = tenant(&server).await;
    let path = format!("/v1/projects?workspaceId={workspace_id}");

    // The operator may do anything, but not with a read-only credential.
    let read_only = server.write_file(
        "read-only.json",
        &server
            .operator
            .credentials(serde_json::json!({ "name": "ro", "scopes": ["api:read"] }))
            .await,
    );
    let run = latchkey(&["doctor", "--check", "POST", &path], Some(&read_only)).await;
    failed_at(&run, "check", "missing scope api:write");
    assert!(
        run.stdout.contains("read-only (scope api:read)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "fix: scopes are fixed when a credential is generated: generate one with api:write"
        ),
        "{}",
        run.stdout
    );
    // Every other check passed: only the call is refused.
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("FAIL")).count(),
        1,
        "{}",
        run.stdout
    );

    let run = latchkey(&["doctor", "--check", "POST", &path], Some(&viewer)).await;
    failed_at(&run, "check", "missing role developer");
    assert!(
        run.stdout
            .contains("fix: ask an admin of workspace 'Lidar'")
            && run.stdout.contains("for the developer role"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("organization Acme (member)")
            && run.stdout.contains("Lidar (viewer: read)"),
        "{}",
        run.stdout
    );

    let run = latchkey(&["doctor", "--check", "POST", &path], Some(&developer)).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("check") && l.contains("is allowed")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Lidar (developer: read, write)"),
        "{}",
        run.stdout
    );

    let run = latchkey(
        &["doctor", "--check", "PATCH", "/v1/nowhere"],
        Some(&developer),
    )
    .await;
    failed_at(&run, "check", "PATCH /v1/nowhere");
}
