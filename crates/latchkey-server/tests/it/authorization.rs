//! The exhaustive authorization test of issue 3: every API endpoint × every kind of
//! caller answers the status and error code that the permission decision predicts.
//!
//! [`endpoints`] is the table: one row per endpoint, saying what it does ([`Kind`]).
//! [`PROFILES`] are the columns: tokens of people in each role, the admin's read-only
//! credential and one limited to another workspace, an admin of another organization,
//! and no token. [`expected`] computes every cell from the order of checks in
//! `latchkey_core::access::decide` — another organization's resource is a 404, then a
//! credential's workspace limit, then its scopes, then the person's role — so the table
//! lists endpoints, not hundreds of outcomes. Each row's [`Kind`] must be what its
//! route declares (its `RouteAccess`, read through `POST /v1/access/check`), so the
//! expectations follow the declarations the handlers ask with. Every cell runs against
//! the real server; mismatches are collected and a failure prints the whole matrix at
//! once.
//!
//! Successful writes must not disturb later cells: creates use names of their own per
//! column, member changes a target user of their own per column, and publishing and
//! invalidating (which would close the batch or hide the scene) are sent with
//! `X-Dryrun`.
//!
//! Over 800 lines: the matrix's table of expectations is one list by design.

use std::fmt::Write as _;
use std::time::Instant;

use latchkey_core::access::WorkspaceRole;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{PASSWORD, Tenant, add_person, create_workspace, set_role};
use crate::harness::{PageClient, TestApp};

/// What an endpoint needs from the permission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// `workspace:read` in the tenant's workspace.
    Read,
    /// `workspace:write` there: projects, batches, scenes, IMU, inputs, calibrations.
    Write,
    /// `workspace:members` there.
    Members,
    /// `organization:read` of the tenant's organization.
    OrgRead,
    /// `organization:manage`: its users and workspaces.
    OrgManage,
    /// `platform:manage`: organizations. No column is the platform operator.
    Platform,
}

impl Need {
    fn permission(self) -> &'static str {
        match self {
            Need::Read => "workspace:read",
            Need::Write => "workspace:write",
            Need::Members => "workspace:members",
            Need::OrgRead => "organization:read",
            Need::OrgManage => "organization:manage",
            Need::Platform => "platform:manage",
        }
    }

    /// The `resource` a refusal names: its type and the key of its id in [`Values`].
    fn resource(self) -> (&'static str, Option<&'static str>) {
        match self {
            Need::Read | Need::Write | Need::Members => ("workspace", Some("ws")),
            Need::OrgRead | Need::OrgManage => ("organization", Some("org")),
            Need::Platform => ("platform", None),
        }
    }
}

/// What an endpoint does, as far as access goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Asks the permission decision about the tenant's workspace or organization.
    Needs(Need),
    /// A list filtered to what the caller may see: 200 for every token, and the
    /// tenant's item is in it exactly when the caller has the need.
    List(Need),
    /// The caller's own account (`/v1/me`, their own credentials): per user, not per
    /// workspace, so 200 for every token whatever its scopes, limits or organization.
    Own,
    /// Generating a credential needs the scope `credentials:manage`. It is off by
    /// default and no column's credential has it, so every token gets 403
    /// `missing_scope` — the other organization's admin too, since it is their own
    /// account they would change — except one limited to a workspace, which is refused
    /// first for asking for a credential wider than itself (the default: everywhere).
    OwnCreate,
    /// Changing the tenant admin's credential: nobody but its owner (the admin's
    /// columns) or an admin of their organization (the same columns) sees it, so
    /// everyone else gets 404; the owner's tokens lack `credentials:manage`, and the
    /// one limited to a workspace does not cover the credential, which reaches every
    /// workspace. Carries the permission the route declares.
    AdminsCredential(&'static str),
}

const READ: Kind = Kind::Needs(Need::Read);
const WRITE: Kind = Kind::Needs(Need::Write);
const MEMBERS: Kind = Kind::Needs(Need::Members);
const ORG_READ: Kind = Kind::Needs(Need::OrgRead);
const ORG_MANAGE: Kind = Kind::Needs(Need::OrgManage);
const PLATFORM: Kind = Kind::Needs(Need::Platform);
const LIST_READ: Kind = Kind::List(Need::Read);
const LIST_ORG: Kind = Kind::List(Need::OrgRead);
const SPARE_MANAGE: Kind = Kind::AdminsCredential("credentials:manage");
const SPARE_SECRET: Kind = Kind::AdminsCredential("credentials:secret");

/// What the permission decision knows about a column's caller.
#[derive(Debug, Clone, Copy)]
struct Profile {
    name: &'static str,
    /// False: the call carries no token at all.
    has_token: bool,
    /// A user of the tenant's organization (else of another one).
    same_organization: bool,
    /// Organization admin: admin in each of its workspaces, manages users and
    /// workspaces.
    organization_admin: bool,
    /// The role held in the tenant's workspace.
    role: Option<WorkspaceRole>,
    /// The credential has `api:read` only.
    read_only: bool,
    /// The credential is limited to another workspace of the same organization.
    limited_elsewhere: bool,
}

const PERSON: Profile = Profile {
    name: "",
    has_token: true,
    same_organization: true,
    organization_admin: false,
    role: None,
    read_only: false,
    limited_elsewhere: false,
};

/// The columns. Besides the seven callers of the issue, `ws-admin` (a workspace admin
/// who is no organization admin) and `member` (in the organization, no role in the
/// workspace) tell apart what the organization admin's role hides.
const PROFILES: [Profile; 9] = [
    Profile {
        name: "none",
        has_token: false,
        ..PERSON
    },
    Profile {
        name: "admin",
        organization_admin: true,
        ..PERSON
    },
    Profile {
        name: "ws-admin",
        role: Some(WorkspaceRole::Admin),
        ..PERSON
    },
    Profile {
        name: "developer",
        role: Some(WorkspaceRole::Developer),
        ..PERSON
    },
    Profile {
        name: "viewer",
        role: Some(WorkspaceRole::Viewer),
        ..PERSON
    },
    Profile {
        name: "member",
        ..PERSON
    },
    Profile {
        name: "read-only",
        organization_admin: true,
        read_only: true,
        ..PERSON
    },
    Profile {
        name: "limited",
        organization_admin: true,
        limited_elsewhere: true,
        ..PERSON
    },
    Profile {
        name: "other-org",
        same_organization: false,
        organization_admin: true,
        ..PERSON
    },
];

/// What a cell should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// One of the endpoint's success statuses.
    Allowed,
    Refused(u16, &'static str),
}

/// The rule, in the order of checks of `latchkey_core::access::decide`.
fn expected(caller: &Profile, kind: Kind) -> Outcome {
    if !caller.has_token {
        return Outcome::Refused(401, "missing_token");
    }
    match kind {
        Kind::Own | Kind::List(_) => Outcome::Allowed,
        Kind::OwnCreate if caller.limited_elsewhere => {
            Outcome::Refused(403, "credential_wider_than_token")
        }
        Kind::OwnCreate => Outcome::Refused(403, "missing_scope"),
        Kind::AdminsCredential(_) if !(caller.same_organization && caller.organization_admin) => {
            Outcome::Refused(404, "not_found")
        }
        Kind::AdminsCredential(_) if caller.limited_elsewhere => {
            Outcome::Refused(403, "credential_wider_than_token")
        }
        Kind::AdminsCredential(_) => Outcome::Refused(403, "missing_scope"),
        Kind::Needs(need) => decide(caller, need),
    }
}

fn decide(caller: &Profile, need: Need) -> Outcome {
    use Outcome::{Allowed, Refused};
    // 1. Another organization's resource is answered as if it did not exist. The
    //    platform belongs to no organization.
    if need != Need::Platform && !caller.same_organization {
        return Refused(404, "not_found");
    }
    // 2. A credential limited to some workspaces acts on nothing else; of what is wider
    //    than a workspace it may only read its organization.
    if caller.limited_elsewhere && need != Need::OrgRead {
        return Refused(403, "workspace_not_allowed");
    }
    // 3. A read-only credential cannot write, whatever its user may do.
    if caller.read_only && !matches!(need, Need::Read | Need::OrgRead) {
        return Refused(403, "missing_scope");
    }
    // 4. The person's role; an organization admin is admin in each of its workspaces.
    let held = if caller.organization_admin {
        Some(WorkspaceRole::Admin)
    } else {
        caller.role
    };
    let at_least = |least: WorkspaceRole| held.is_some_and(|role| role >= least);
    let allowed = match need {
        Need::Read => at_least(WorkspaceRole::Viewer),
        Need::Write => at_least(WorkspaceRole::Developer),
        Need::Members => at_least(WorkspaceRole::Admin),
        Need::OrgRead => true,
        Need::OrgManage => caller.organization_admin,
        Need::Platform => false,
    };
    if allowed {
        Allowed
    } else {
        Refused(403, "missing_role")
    }
}

/// The values a row's path and body name as `{key}`: the tenant's resources, and what
/// belongs to the column alone.
#[derive(Debug, Clone)]
struct Values(Vec<(&'static str, String)>);

impl Values {
    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no value `{key}`"))
    }

    fn id(&self, key: &str) -> i64 {
        self.get(key).parse().expect("a numeric id")
    }

    fn fill(&self, template: &str) -> String {
        self.0
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                text.replace(&format!("{{{key}}}"), value)
            })
    }

    /// The same values with the tenant's resources swapped for ids that exist nowhere.
    fn ghost(&self) -> Values {
        let mut values = self.clone();
        for (key, value) in &mut values.0 {
            if let Some((_, ghost)) = GHOSTS.iter().find(|(k, _)| k == key) {
                *value = (*ghost).to_owned();
            }
        }
        values
    }
}

/// Ids that name nothing, for the 404 that another organization's resource must match.
const GHOSTS: [(&str, &str); 8] = [
    ("org", "987654321"),
    ("ws", "00000000-0000-4000-8000-000000000000"),
    ("project", "no-such-project"),
    ("batch", "no-such-batch"),
    ("scene", "00000000-0000-4000-8000-000000000001"),
    ("scene_external", "no-such-scene"),
    ("calibration", "00000000-0000-4000-8000-000000000002"),
    ("target", "987654321"),
];

/// One row: an endpoint and what it does.
struct Endpoint {
    method: Method,
    path: &'static str,
    /// Tells two rows of one path apart in the matrix.
    note: &'static str,
    body: Option<fn(&Values) -> Value>,
    kind: Kind,
    /// The statuses of success: a create answers 201, or 200 when it exists already.
    success: &'static [u16],
    dryrun: bool,
    /// For lists: where in an item (a JSON pointer) the value of which key must be
    /// found when the caller may see it; a single object counts as a list of one.
    item: Option<(&'static str, &'static str)>,
}

fn at(method: Method, path: &'static str, kind: Kind) -> Endpoint {
    Endpoint {
        method,
        path,
        note: "",
        body: None,
        kind,
        success: &[200],
        dryrun: false,
        item: None,
    }
}

impl Endpoint {
    fn body(mut self, body: fn(&Values) -> Value) -> Endpoint {
        self.body = Some(body);
        self
    }

    fn answers(mut self, success: &'static [u16]) -> Endpoint {
        self.success = success;
        self
    }

    /// Validates and changes nothing: the answer of success is 204.
    fn dryrun(mut self) -> Endpoint {
        self.dryrun = true;
        self.success = &[204];
        self
    }

    fn lists(mut self, field: &'static str, key: &'static str) -> Endpoint {
        self.item = Some((field, key));
        self
    }

    fn note(mut self, note: &'static str) -> Endpoint {
        self.note = note;
        self
    }

    fn label(&self) -> String {
        let label = format!("{} {}", self.method, self.path);
        if self.note.is_empty() {
            label
        } else {
            format!("{label} ({})", self.note)
        }
    }
}

const CREATED: &[u16] = &[201, 200];

/// Every API route of `routes/api.rs`, `routes/tenancy.rs` and `routes/content` (not the
/// unauthenticated upload `PUT`, the OAuth endpoints or the pages), and the reads of
/// `routes/events.rs` (its writes are in `events.rs`).
fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        // routes/api.rs: the caller's own account.
        at(M::GET, "/v1/me", Kind::Own).lists("/user/id", "user"),
        at(M::GET, "/v1/credentials", Kind::Own).lists("/clientId", "client"),
        at(M::GET, "/v1/credentials/{client}/usage", Kind::Own),
        at(M::POST, "/v1/credentials", Kind::OwnCreate)
            .body(|v| json!({ "name": format!("made-by-{}", v.get("col")) }))
            .answers(&[201]),
        // The spare's life: no column's token has credentials:manage, so none succeeds
        // and the rows leave the spare as it was for the next.
        at(M::POST, "/v1/credentials/{spare}/roll", SPARE_SECRET)
            .body(|_| json!({ "overlapSeconds": 0 }))
            .answers(&[201]),
        at(M::POST, "/v1/credentials/{spare}/renew", SPARE_SECRET).answers(&[201]),
        at(M::PUT, "/v1/credentials/{spare}/limits", SPARE_MANAGE)
            .body(|_| json!({}))
            .answers(&[204]),
        at(M::POST, "/v1/credentials/{spare}/disable", SPARE_MANAGE).answers(&[204]),
        at(
            M::POST,
            "/v1/credentials/{spare}/enable",
            Kind::AdminsCredential("credentials:enable"),
        )
        .answers(&[204]),
        at(M::DELETE, "/v1/credentials/{spare}", SPARE_MANAGE).answers(&[204]),
        // routes/tenancy.rs
        at(M::GET, "/v1/organizations", LIST_ORG).lists("/id", "org"),
        at(M::POST, "/v1/organizations", PLATFORM)
            .body(|v| json!({ "name": format!("Organization of {}", v.get("col")) }))
            .answers(&[201]),
        at(M::GET, "/v1/users", LIST_ORG).lists("/id", "admin_id"),
        at(M::GET, "/v1/users?organizationId={org}", ORG_READ),
        at(M::POST, "/v1/users", ORG_MANAGE)
            .body(|v| {
                json!({
                    "email": format!("new-{}@acme.test", v.get("col")),
                    "name": "New person",
                    "organizationId": v.id("org"),
                })
            })
            .answers(&[201]),
        at(M::GET, "/v1/workspaces", LIST_READ).lists("/id", "ws"),
        at(M::POST, "/v1/workspaces", ORG_MANAGE)
            .body(|v| {
                json!({
                    "name": format!("Workspace of {}", v.get("col")),
                    "organizationId": v.id("org"),
                })
            })
            .answers(&[201]),
        at(M::GET, "/v1/workspaces/{ws}/members", READ),
        at(M::PUT, "/v1/workspaces/{ws}/members/{target}", MEMBERS)
            .body(|_| json!({ "role": "developer" })),
        at(M::DELETE, "/v1/workspaces/{ws}/members/{target}", MEMBERS).answers(&[204]),
        // routes/events.rs
        at(M::GET, "/v1/organizations/{org}/webhooks", ORG_MANAGE),
        at(M::GET, "/v1/notifications", Kind::Own),
        // routes/content/projects.rs
        at(M::GET, "/v1/projects", LIST_READ).lists("/project", "project"),
        at(M::POST, "/v1/projects", WRITE)
            .body(|v| {
                json!({
                    "project": format!("project-{}", v.get("col")),
                    "title": "A project",
                    "workspaceId": v.get("ws"),
                })
            })
            .answers(CREATED),
        at(M::GET, "/v1/projects/{project}/batches", READ),
        at(M::GET, "/v1/projects/{project}/batches/{batch}", READ),
        at(M::POST, "/v1/projects/{project}/batches/batch-{col}", WRITE)
            .body(|_| json!({ "publishPreviousBatches": false }))
            .answers(CREATED),
        at(M::POST, "/v1/projects/{project}/batches/{batch}/publish", WRITE).dryrun(),
        // routes/content/scenes.rs
        at(M::POST, "/v1/inputs/initialize", WRITE).body(|v| json!({ "workspaceId": v.get("ws") })),
        at(M::POST, "/v1/imu?workspaceId={ws}", WRITE).body(|v| imu_body(v.get("uuid_imu"))),
        at(M::POST, "/v1/inputs/cameras?workspaceId={ws}", WRITE)
            .body(|v| cameras_body(v.get("uuid_plain"), &format!("plain-{}", v.get("col"))))
            .answers(CREATED),
        at(M::POST, "/v1/inputs/project/{project}/cameras?workspaceId={ws}", WRITE)
            .body(|v| cameras_body(v.get("uuid_project"), &format!("project-{}", v.get("col"))))
            .answers(CREATED),
        at(M::POST, "/v1/inputs/project/{project}/batch/{batch}/cameras?workspaceId={ws}", WRITE)
            .body(|v| cameras_body(v.get("uuid_batch"), &format!("batch-{}", v.get("col"))))
            .answers(CREATED),
        at(M::POST, "/v1/inputs/{scene}/actions/commit", WRITE),
        at(M::POST, "/v2/scenes/query", READ)
            .note("sceneUuids")
            .body(|v| json!({ "sceneUuids": [v.get("scene")] })),
        at(M::POST, "/v2/scenes/query", READ)
            .note("externalIds")
            .body(|v| json!({ "externalIds": [v.get("scene_external")] })),
        at(M::GET, "/v2/scenes/{scene}", READ),
        // routes/content/inputs.rs
        at(M::POST, "/v1/inputs", WRITE).body(|v| {
            json!({ "sceneUuid": v.get("scene"), "project": v.get("project"), "batch": v.get("batch") })
        }),
        at(M::POST, "/v2/inputs", WRITE).body(|v| {
            json!({
                "sceneUuid": v.get("scene"),
                "projectExtId": v.get("project"),
                "batchExtId": v.get("batch"),
            })
        }),
        at(M::POST, "/v2/inputs/query", LIST_READ)
            .note("all")
            .body(|_| json!({}))
            .lists("/sceneUuid", "scene"),
        at(M::POST, "/v2/inputs/query", READ)
            .note("project")
            .body(|v| json!({ "project": v.get("project") })),
        // routes/content/calibrations.rs
        at(M::GET, "/v1/calibrations", LIST_READ).lists("/id", "calibration"),
        at(M::GET, "/v1/calibrations?id={calibration}", READ),
        at(M::POST, "/v1/calibrations?workspaceId={ws}", WRITE)
            .body(|v| calibration_body(&format!("calibration-{}", v.get("col"))))
            .answers(CREATED),
        // Would hide the scene from the rows above; a dryrun runs every check.
        at(M::POST, "/v2/scenes/actions/invalidate", WRITE)
            .body(|v| json!({ "sceneUuids": [v.get("scene")], "reason": "bad-content" }))
            .dryrun(),
    ]
}

fn cameras_body(internal_id: &str, external_id: &str) -> Value {
    json!({
        "externalId": external_id,
        "internalId": internal_id,
        "frame": {"images": [{"filename": "/data/front.png", "resourceId": "/data/front.png", "sensorName": "CAM"}]},
        "metadata": {},
    })
}

fn imu_body(internal_id: &str) -> Value {
    json!({
        "internalId": internal_id,
        "imuData": [{
            "position": {"x": 0.0, "y": 0.0, "z": 0.0},
            "rotationQuaternion": {"w": 1.0, "x": 0.0, "y": 0.0, "z": 0.0},
            "timestamp": 1_700_000_000_000_000_000_i64,
        }],
    })
}

fn calibration_body(external_id: &str) -> Value {
    json!({ "externalId": external_id, "calibration": {"CAM": {"calibration_type": "pinhole"}} })
}

/// A column at run time: who calls, and what belongs to the column alone.
struct Column {
    profile: Profile,
    token: Option<String>,
    user_id: i64,
    client_id: String,
    values: Values,
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    dryrun: bool,
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if dryrun {
        request = request.header("X-Dryrun", "");
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// A setup call that must succeed; answers its body.
async fn setup(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = send(app, method.clone(), path, Some(token), Some(&body), false).await;
    assert!(
        (200..300).contains(&status),
        "setup {method} {path}: {status} {answer}"
    );
    answer
}

async fn token_of(app: &TestApp, person: &PageClient, body: Value) -> (String, i64, String) {
    let file = person.create_credentials_with(body).await;
    let token = app.token(&file).await;
    (token, file.user_id, file.client_id)
}

/// What one cell answered, and what is wrong with it.
struct Cell {
    shown: String,
    problems: Vec<String>,
    answer: Value,
}

fn short(status: u16, code: Option<&str>) -> String {
    match (status, code) {
        (403, Some("missing_role")) => "403 role".to_owned(),
        (403, Some("missing_scope")) => "403 scope".to_owned(),
        (403, Some("workspace_not_allowed")) => "403 ws".to_owned(),
        (401 | 404, Some("missing_token" | "not_found")) | (_, None) => status.to_string(),
        (_, Some(code)) => format!("{status} {code}"),
    }
}

fn describe(outcome: Outcome, success: &[u16]) -> String {
    match outcome {
        Outcome::Allowed => format!("{success:?}"),
        Outcome::Refused(status, code) => format!("{status} {code}"),
    }
}

/// A 404 message with the named ids (always in backticks) replaced by their key.
fn normalised(message: &str, values: &[&Values]) -> String {
    let mut message = message.to_owned();
    for values in values {
        for (key, value) in &values.0 {
            if GHOSTS.iter().any(|(k, _)| k == key) {
                message = message.replace(&format!("`{value}`"), &format!("`<{key}>`"));
            }
        }
    }
    message
}

fn item_listed(body: &Value, pointer: &str, wanted: &str) -> bool {
    let items = match &body["data"] {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    items.into_iter().any(|item| match item.pointer(pointer) {
        Some(Value::String(text)) => text == wanted,
        Some(Value::Number(number)) => number.to_string() == wanted,
        _ => false,
    })
}

async fn run_cell(app: &TestApp, column: &Column, endpoint: &Endpoint) -> Cell {
    let values = &column.values;
    let path = values.fill(endpoint.path);
    let body = endpoint.body.map(|body| body(values));
    let token = column.token.as_deref();
    let (status, answer) = send(
        app,
        endpoint.method.clone(),
        &path,
        token,
        body.as_ref(),
        endpoint.dryrun,
    )
    .await;
    let code = answer["error"].as_str();
    let want = expected(&column.profile, endpoint.kind);
    let mut problems = Vec::new();
    match want {
        Outcome::Allowed if !endpoint.success.contains(&status) => problems.push(format!(
            "expected {}, got {status}",
            describe(want, endpoint.success)
        )),
        Outcome::Refused(want_status, want_code)
            if status != want_status || code != Some(want_code) =>
        {
            problems.push(format!("expected {want_status} {want_code}, got {status}"));
        }
        _ => {}
    }
    if let Some((field, key)) = endpoint.item
        && (200..300).contains(&status)
    {
        // What is the caller's own is always theirs to see.
        let visible = match endpoint.kind {
            Kind::List(need) => expected(&column.profile, Kind::Needs(need)) == Outcome::Allowed,
            Kind::Needs(_) | Kind::Own | Kind::OwnCreate | Kind::AdminsCredential(_) => true,
        };
        if item_listed(&answer, field, values.get(key)) != visible {
            problems.push(format!(
                "the item with {field} = {} should {}be listed",
                values.get(key),
                if visible { "" } else { "not " }
            ));
        }
    }
    if status >= 400 {
        for field in ["message", "requestId"] {
            if answer[field].as_str().is_none_or(str::is_empty) {
                problems.push(format!("the error body lacks `{field}`"));
            }
        }
    }
    if status == 403 {
        problems.extend(explanation_problems(column, endpoint.kind, &answer));
    }
    if want == Outcome::Refused(404, "not_found") && status == 404 {
        // Another organization's resource: exactly the 404 of one that does not exist.
        let ghost = values.ghost();
        let (ghost_status, ghost_answer) = send(
            app,
            endpoint.method.clone(),
            &ghost.fill(endpoint.path),
            token,
            endpoint.body.map(|body| body(&ghost)).as_ref(),
            endpoint.dryrun,
        )
        .await;
        let message = |answer: &Value| {
            normalised(
                answer["message"].as_str().unwrap_or_default(),
                &[values, &ghost],
            )
        };
        if ghost_status != 404 || message(&answer) != message(&ghost_answer) {
            problems.push(format!(
                "the 404 differs from that of a nonexistent id ({ghost_status} {ghost_answer})"
            ));
        }
    }
    let shown = short(status, code);
    Cell {
        shown: if problems.is_empty() {
            shown
        } else {
            format!("✗{shown}")
        },
        problems,
        answer,
    }
}

/// A 403 explains itself: what was needed, about what, and who asked.
fn explanation_problems(column: &Column, kind: Kind, answer: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut lacks = |what: String| problems.push(format!("the 403 {what}"));
    let permission = answer["requiredPermission"].as_str();
    let resource = &answer["resource"];
    match kind {
        Kind::Needs(need) => {
            if permission != Some(need.permission()) {
                lacks(format!("should need `{}`", need.permission()));
            }
            let (kind, key) = need.resource();
            let id = key.map(|key| column.values.get(key));
            if resource["type"].as_str() != Some(kind) || resource["id"].as_str() != id {
                lacks(format!("should name the {kind} {}", id.unwrap_or_default()));
            }
        }
        // A refusal outside the decision (today only `credentials:manage`) explains
        // itself all the same: issue 3 asks it of every 403.
        Kind::List(_) | Kind::Own | Kind::OwnCreate | Kind::AdminsCredential(_) => {
            if permission.is_none_or(str::is_empty) {
                lacks("lacks `requiredPermission`".to_owned());
            }
            if !resource.is_object() {
                lacks("lacks `resource`".to_owned());
            }
        }
    }
    let principal = &answer["principal"];
    if principal["userId"].as_i64() != Some(column.user_id)
        || principal["clientId"].as_str() != Some(column.client_id.as_str())
    {
        lacks(format!(
            "should name the principal (user {}, client {})",
            column.user_id, column.client_id
        ));
    }
    problems
}

/// Whether a row's [`Kind`] expects the permission its route declares.
fn expects(kind: Kind, declared: Option<&str>) -> bool {
    match kind {
        Kind::Needs(need) => declared == Some(need.permission()),
        // A list needs nothing to be called, or names the permission it filters by
        // (a route that reads one item when the call names it, else lists).
        Kind::List(need) => declared.is_none_or(|p| p == need.permission()),
        Kind::Own => declared == Some("account:read"),
        Kind::OwnCreate => declared == Some("credentials:create"),
        Kind::AdminsCredential(permission) => declared == Some(permission),
    }
}

/// Where a row's expectation comes from: the route's own declaration, which
/// `POST /v1/access/check` reads as the handler does. A row whose [`Kind`] needs another
/// permission than the route declares is reported, so the matrix follows the
/// declarations instead of a second opinion.
async fn disagrees_with_declaration(
    app: &TestApp,
    column: &Column,
    endpoint: &Endpoint,
) -> Option<String> {
    let path = column.values.fill(endpoint.path);
    let body = endpoint.body.map(|body| body(&column.values));
    let token = column
        .token
        .as_deref()
        .expect("the admin column has a token");
    let (status, answer) = send(
        app,
        Method::POST,
        "/v1/access/check",
        Some(token),
        Some(&json!({ "method": endpoint.method.as_str(), "path": path, "body": body })),
        false,
    )
    .await;
    let declared = answer["data"]["requiredPermission"].as_str();
    (status != 200 || !expects(endpoint.kind, declared)).then(|| {
        format!(
            "{}: the row expects {:?}, the route declares {declared:?} ({status} {answer})",
            endpoint.label(),
            endpoint.kind
        )
    })
}

#[tokio::test]
async fn every_endpoint_answers_every_kind_of_caller_as_the_permission_decision_says() {
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let columns = columns(&app).await;
    let ready = started.elapsed();

    let endpoints = endpoints();
    let admin = &columns[1];
    let mut undeclared = Vec::new();
    for endpoint in &endpoints {
        if let Some(problem) = disagrees_with_declaration(&app, admin, endpoint).await {
            undeclared.push(problem);
        }
    }
    assert!(
        undeclared.is_empty(),
        "rows whose expectation is not what the route declares:\n{}",
        undeclared.join("\n")
    );
    let mut rows = Vec::new();
    for endpoint in &endpoints {
        let mut cells = Vec::new();
        for column in &columns {
            cells.push(run_cell(&app, column, endpoint).await);
        }
        rows.push(cells);
    }

    let (matrix, details, mismatches) = render(&endpoints, &rows);
    let summary = format!(
        "{} endpoints × {} callers in {:.1?} (setup {ready:.1?})",
        endpoints.len(),
        PROFILES.len(),
        started.elapsed(),
    );
    assert!(
        mismatches == 0,
        "{mismatches} cells (✗) disagree with the rule:\n\n{matrix}\n\n{details}\n{summary}"
    );
    println!("{matrix}\n\n{summary}");
}

/// Two tenants, the content the rows name, and one column per profile with its token
/// and the values only it uses.
async fn columns(app: &TestApp) -> Vec<Column> {
    let acme = Tenant::create(app, "Acme").await;
    let globex = Tenant::create(app, "Globex").await;
    let org = acme.organization_id;
    let ws = acme.workspace_id.clone();
    let side = create_workspace(&acme.admin, org, "Acme side").await;
    let ws_admin_id = add_person(&acme.admin, org, "ws-admin@acme.test", "member").await;
    set_role(&acme.admin, &ws, ws_admin_id, "admin").await;
    let ws_admin = app.sign_in("ws-admin@acme.test", PASSWORD).await;

    // In the order of PROFILES.
    let plain = || json!({ "name": "authz" });
    let credentials = [
        None,
        Some(token_of(app, &acme.admin, plain()).await),
        Some(token_of(app, &ws_admin, plain()).await),
        Some(token_of(app, &acme.developer, plain()).await),
        Some(token_of(app, &acme.viewer, plain()).await),
        Some(token_of(app, &acme.outsider, plain()).await),
        Some(
            token_of(
                app,
                &acme.admin,
                json!({ "name": "authz-read-only", "scopes": ["api:read"] }),
            )
            .await,
        ),
        Some(
            token_of(
                app,
                &acme.admin,
                json!({ "name": "authz-limited", "workspaces": [side] }),
            )
            .await,
        ),
        Some(token_of(app, &globex.admin, plain()).await),
    ];
    let (admin, admin_id, _) = credentials[1].clone().expect("the admin's token");
    let (developer, _, _) = credentials[3].clone().expect("the developer's token");
    let spare = acme.admin.create_credentials("authz-spare").await.client_id;

    // The tenant's content, made by its developer: a project with an open batch, a
    // calibration, and a created scene that is an input of the batch.
    let call = |method: Method, path: String, body: Value| {
        let developer = developer.clone();
        async move { setup(app, &developer, method, &path, body).await }
    };
    call(
        Method::POST,
        "/v1/projects".to_owned(),
        json!({ "project": "p1", "title": "Project one", "workspaceId": ws }),
    )
    .await;
    call(
        Method::POST,
        "/v1/projects/p1/batches/b1".to_owned(),
        json!({ "publishPreviousBatches": false }),
    )
    .await;
    let calibration = call(
        Method::POST,
        format!("/v1/calibrations?workspaceId={ws}"),
        calibration_body("authz-calibration"),
    )
    .await["data"]["id"]
        .as_str()
        .expect("calibration id")
        .to_owned();
    let initialize = || async {
        call(
            Method::POST,
            "/v1/inputs/initialize".to_owned(),
            json!({ "workspaceId": ws }),
        )
        .await["data"]["sceneUuid"]
            .as_str()
            .expect("scene uuid")
            .to_owned()
    };
    let scene = initialize().await;
    let created = call(
        Method::POST,
        format!("/v1/inputs/cameras?workspaceId={ws}"),
        cameras_body(&scene, "authz-scene"),
    )
    .await;
    let upload = created["data"]["files"]["/data/front.png"]
        .as_str()
        .expect("upload url");
    let uploaded = app
        .http
        .put(upload)
        .body(&b"\x89PNG\r\n\x1a\n"[..])
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), 200);
    call(
        Method::POST,
        format!("/v1/inputs/{scene}/actions/commit"),
        Value::Null,
    )
    .await;
    call(
        Method::POST,
        "/v1/inputs".to_owned(),
        json!({ "sceneUuid": scene, "project": "p1", "batch": "b1" }),
    )
    .await;

    let mut columns = Vec::new();
    for (profile, credential) in PROFILES.into_iter().zip(credentials) {
        let (token, user_id, client_id) = match credential {
            Some((token, user_id, client_id)) => (Some(token), user_id, client_id),
            // No credential: a well-formed id of none, so paths keep their shape.
            None => (None, 0, "lkc_0000000000000000000000".to_owned()),
        };
        // A member of the workspace for this column alone to change and remove.
        let target = setup(
            app,
            &admin,
            Method::POST,
            "/v1/users",
            json!({
                "email": format!("target-{}@acme.test", profile.name),
                "name": "Target",
                "organizationId": org,
            }),
        )
        .await["data"]["id"]
            .as_i64()
            .expect("user id");
        set_role(&acme.admin, &ws, target, "viewer").await;
        let values = Values(vec![
            ("col", profile.name.to_owned()),
            ("org", org.to_string()),
            ("ws", ws.clone()),
            ("project", "p1".to_owned()),
            ("batch", "b1".to_owned()),
            ("scene", scene.clone()),
            ("scene_external", "authz-scene".to_owned()),
            ("calibration", calibration.clone()),
            ("admin_id", admin_id.to_string()),
            ("user", user_id.to_string()),
            ("client", client_id.clone()),
            ("spare", spare.clone()),
            ("target", target.to_string()),
            ("uuid_plain", initialize().await),
            ("uuid_project", initialize().await),
            ("uuid_batch", initialize().await),
            ("uuid_imu", initialize().await),
        ]);
        columns.push(Column {
            profile,
            token,
            user_id,
            client_id,
            values,
        });
    }
    columns
}

/// The matrix of what each cell answered (✗ where it disagrees), the details of each
/// disagreement, and their number.
fn render(endpoints: &[Endpoint], rows: &[Vec<Cell>]) -> (String, String, usize) {
    let label_width = endpoints
        .iter()
        .map(|e| e.label().chars().count())
        .max()
        .unwrap_or(0);
    let mut matrix = format!("{:label_width$}", "endpoint");
    for profile in &PROFILES {
        let _ = write!(matrix, " | {:10}", profile.name);
    }
    let mut details = String::new();
    let mut mismatches = 0;
    for (endpoint, cells) in endpoints.iter().zip(rows) {
        let _ = write!(matrix, "\n{:label_width$}", endpoint.label());
        for (profile, cell) in PROFILES.iter().zip(cells) {
            let _ = write!(matrix, " | {:10}", cell.shown);
            if !cell.problems.is_empty() {
                mismatches += 1;
                let _ = writeln!(
                    details,
                    "- {} × {}: {}\n    {}",
                    endpoint.label(),
                    profile.name,
                    cell.problems.join("; "),
                    cell.answer
                );
            }
        }
    }
    (matrix, details, mismatches)
}
