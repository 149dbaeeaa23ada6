//! Browsing the platform's content: workspaces → projects → batches → scenes with their
//! files (every scene's `viewLink` opens its page). Each page asks the API's permission
//! decision through [`Caller::of_session`]; what a person cannot read is the same 404
//! as what does not exist, so another organization's ids reveal nothing.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use latchkey_core::access::{Action, Resource, WorkspaceRole, decide};
use latchkey_store::{SceneRow, WorkspaceRow};

use crate::access::{Find, RouteAccess, not_found, readable_workspaces};
use crate::auth::{Caller, PageSession, Session};
use crate::error::AppError;
use crate::routes::platform_pages::ORGANIZATION_PAGE;
use crate::routes::platform_pages::hidden;
use crate::routes::web::{Nav, display_time, page_error, render};
use crate::state::AppState;

/// Scenes a workspace or project page lists, newest first.
const RECENT_SCENES: i64 = 50;

/// Who may open a workspace's page: anyone who may read it.
const WORKSPACE_PAGE: RouteAccess = RouteAccess::new(
    Action::ReadWorkspace,
    Find::WorkspaceInPath,
    "reading the workspace",
);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workspaces", get(show_workspaces))
        .route("/workspaces/{id}", get(show_workspace))
        .route("/workspaces/{id}/projects/{project}", get(show_project))
        .route("/scenes/{uuid}", get(show_scene))
}

// --- view models (field names are the templates' contract) ----------------------------

#[derive(Template)]
#[template(path = "workspaces.html")]
struct WorkspacesPage {
    nav: Nav,
    show_organization: bool,
    workspaces: Vec<WorkspaceItem>,
}

struct WorkspaceItem {
    id: String,
    organization_id: i64,
    name: String,
    external_id: Option<String>,
    organization: String,
    role: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "workspace.html")]
struct WorkspacePage {
    nav: Nav,
    workspace: WorkspaceItem,
    /// Where the person manages this workspace's members, if they may.
    manage_href: Option<String>,
    projects: Vec<ProjectItem>,
    scenes: Vec<SceneItem>,
}

struct ProjectItem {
    key: String,
    href: String,
    title: String,
    status: String,
    created: String,
    batches: Vec<BatchItem>,
}

struct BatchItem {
    batch: String,
    status: String,
    status_class: &'static str,
    created: String,
    updated: String,
    scenes: i64,
}

struct SceneItem {
    uuid: String,
    external_id: String,
    scene_type: String,
    status: String,
    status_class: &'static str,
    created: String,
    batch: Option<String>,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    nav: Nav,
    workspace: WorkspaceItem,
    project: ProjectItem,
    description: String,
    scenes: Vec<SceneItem>,
}

#[derive(Template)]
#[template(path = "scene.html")]
struct ScenePage {
    nav: Nav,
    workspace: WorkspaceItem,
    scene: SceneItem,
    error_message: Option<String>,
    calibration: Option<String>,
    project: Option<(String, String)>,
    batch: Option<BatchItem>,
    metadata: Vec<(String, String)>,
    files: Vec<FileItem>,
    uploaded: usize,
}

struct FileItem {
    resource_id: String,
    uploaded: Option<String>,
    size: Option<String>,
}

/// The badge class of a scene's or batch's status.
fn status_class(status: &str) -> &'static str {
    match status {
        "created" | "ready" => "badge-success",
        "pending" | "processing" | "open" => "badge-warning",
        "invalidated" | "failed" => "badge-danger",
        _ => "",
    }
}

/// A size for people, with the exact byte count beside it.
fn display_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "one decimal of a displayed size"
    )]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

fn workspace_item(row: &WorkspaceRow, organization: &str, role: WorkspaceRole) -> WorkspaceItem {
    WorkspaceItem {
        id: row.id.clone(),
        organization_id: row.organization_id,
        name: row.name.clone(),
        external_id: row.external_id.clone(),
        organization: organization.to_owned(),
        role: role.as_str(),
        created: display_time(row.created_at()),
    }
}

fn scene_item(row: &SceneRow, batches: &HashMap<i64, String>) -> SceneItem {
    SceneItem {
        uuid: row.uuid.clone(),
        external_id: row.external_id.clone(),
        scene_type: row.scene_type.clone(),
        status_class: status_class(&row.status),
        status: row.status.clone(),
        created: display_time(row.created_at()),
        batch: row.batch_id.and_then(|id| batches.get(&id).cloned()),
    }
}

// --- browsing ------------------------------------------------------------------------

async fn show_workspaces(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let result = async {
        let caller = Caller::of_session(&state, &session).await?;
        let readable = readable_workspaces(&state, &caller.principal).await?;
        let organizations: HashMap<i64, String> = state
            .store
            .organizations()
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let workspaces = readable
            .iter()
            .map(|(w, role)| {
                let organization = organizations
                    .get(&w.organization_id)
                    .map_or("", String::as_str);
                workspace_item(w, organization, *role)
            })
            .collect();
        Ok::<_, AppError>(render(
            StatusCode::OK,
            &WorkspacesPage {
                nav: Nav::of(&session),
                show_organization: caller.principal.is_operator,
                workspaces,
            },
        ))
    };
    result
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

/// The workspace `id` if the person may read it, with their role; anything else is the
/// 404 of `kind` `shown_id`.
async fn readable_workspace(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: &str,
    shown_id: &str,
) -> Result<WorkspaceItem, AppError> {
    let workspace = caller
        .workspace(state, id, &WORKSPACE_PAGE)
        .await
        .map_err(|error| hidden(error, kind, shown_id))?;
    let role = caller
        .principal
        .effective_role(&workspace.id, workspace.organization_id)
        .ok_or_else(|| not_found(kind, shown_id))?;
    let organization = state
        .store
        .organization(workspace.organization_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(workspace_item(&workspace, &organization, role))
}

async fn show_workspace(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
) -> Response {
    workspace_page(&state, &session, &id)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn workspace_page(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let workspace = readable_workspace(state, &caller, id, "workspace", id).await?;
    let mut batch_names = HashMap::new();
    let mut projects = Vec::new();
    for project in state.store.workspace_projects(&workspace.id).await? {
        let batches = state.store.batches(project.id).await?;
        let counts: HashMap<i64, i64> = state
            .store
            .batch_scene_counts(project.id)
            .await?
            .into_iter()
            .collect();
        for batch in &batches {
            batch_names.insert(batch.id, format!("{} / {}", project.project, batch.batch));
        }
        projects.push(project_item(&workspace.id, &project, &batches, &counts));
    }
    let scenes = state
        .store
        .recent_workspace_scenes(&workspace.id, RECENT_SCENES)
        .await?
        .iter()
        .map(|s| scene_item(s, &batch_names))
        .collect();
    let organization = Resource::Organization {
        id: workspace.organization_id,
    };
    let manage_href = decide(&caller.principal, ORGANIZATION_PAGE.action, organization)
        .is_ok()
        .then(|| {
            format!(
                "/organizations/{}#workspace-{}",
                workspace.organization_id, workspace.id
            )
        });
    Ok(render(
        StatusCode::OK,
        &WorkspacePage {
            nav: Nav::of(session),
            workspace,
            manage_href,
            projects,
            scenes,
        },
    ))
}

fn project_item(
    workspace_id: &str,
    project: &latchkey_store::ProjectRow,
    batches: &[latchkey_store::BatchRow],
    counts: &HashMap<i64, i64>,
) -> ProjectItem {
    ProjectItem {
        href: format!(
            "/workspaces/{workspace_id}/projects/{}",
            percent_encoding::utf8_percent_encode(
                &project.project,
                percent_encoding::NON_ALPHANUMERIC
            )
        ),
        key: project.project.clone(),
        title: project.title.clone(),
        status: project.status.clone(),
        created: display_time(project.created_at()),
        batches: batches
            .iter()
            .map(|b| BatchItem {
                batch: b.batch.clone(),
                status_class: status_class(&b.status),
                status: b.status.clone(),
                created: display_time(b.created_at()),
                updated: display_time(b.updated_at()),
                scenes: counts.get(&b.id).copied().unwrap_or(0),
            })
            .collect(),
    }
}

async fn show_project(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path((id, key)): Path<(String, String)>,
) -> Response {
    project_page(&state, &session, &id, &key)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn project_page(
    state: &AppState,
    session: &Session,
    id: &str,
    key: &str,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let workspace = readable_workspace(state, &caller, id, "project", key).await?;
    let project = state
        .store
        .workspace_project(&workspace.id, key)
        .await?
        .ok_or_else(|| not_found("project", key))?;
    let batches = state.store.batches(project.id).await?;
    let counts: HashMap<i64, i64> = state
        .store
        .batch_scene_counts(project.id)
        .await?
        .into_iter()
        .collect();
    let batch_names: HashMap<i64, String> =
        batches.iter().map(|b| (b.id, b.batch.clone())).collect();
    let scenes = state
        .store
        .recent_project_scenes(project.id, RECENT_SCENES)
        .await?
        .iter()
        .map(|s| scene_item(s, &batch_names))
        .collect();
    Ok(render(
        StatusCode::OK,
        &ProjectPage {
            nav: Nav::of(session),
            project: project_item(&workspace.id, &project, &batches, &counts),
            description: project.description,
            workspace,
            scenes,
        },
    ))
}

async fn show_scene(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(uuid): Path<String>,
) -> Response {
    scene_page(&state, &session, &uuid)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn scene_page(state: &AppState, session: &Session, uuid: &str) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let scene = state
        .store
        .scene(uuid)
        .await?
        .ok_or_else(|| not_found("scene", uuid))?;
    let workspace = readable_workspace(state, &caller, &scene.workspace_id, "scene", uuid).await?;
    let project = match scene.project_id {
        Some(id) => state.store.project_by_id(id).await?,
        None => None,
    };
    let batch = match scene.batch_id {
        Some(id) => state.store.batch_by_id(id).await?,
        None => None,
    };
    let calibration = match &scene.calibration_id {
        Some(id) => Some(
            state
                .store
                .calibration(id)
                .await?
                .map_or_else(|| id.clone(), |c| format!("{} ({})", c.external_id, c.id)),
        ),
        None => None,
    };
    let metadata =
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&scene.metadata) {
            Ok(map) => map
                .into_iter()
                .map(|(key, value)| {
                    let shown = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    (key, shown)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
    let files: Vec<FileItem> = state
        .store
        .scene_files(&scene.uuid)
        .await?
        .into_iter()
        .map(|f| FileItem {
            uploaded: f.uploaded_at().map(display_time),
            size: f.size.map(display_size),
            resource_id: f.resource_id,
        })
        .collect();
    let batch_names = batch
        .iter()
        .map(|b| (b.id, b.batch.clone()))
        .collect::<HashMap<_, _>>();
    let page = ScenePage {
        nav: Nav::of(session),
        scene: scene_item(&scene, &batch_names),
        error_message: scene.error_message.clone(),
        calibration,
        batch: batch.as_ref().map(|b| BatchItem {
            batch: b.batch.clone(),
            status_class: status_class(&b.status),
            status: b.status.clone(),
            created: display_time(b.created_at()),
            updated: display_time(b.updated_at()),
            scenes: 0,
        }),
        project: project.map(|p| {
            let item = project_item(&workspace.id, &p, &[], &HashMap::new());
            (item.href, format!("{} — {}", p.project, p.title))
        }),
        metadata,
        uploaded: files.iter().filter(|f| f.uploaded.is_some()).count(),
        files,
        workspace,
    };
    Ok(render(StatusCode::OK, &page))
}
