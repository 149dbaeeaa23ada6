//! Projects and their batches (CONTRACT.md §3.2–3.5).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey_core::access::Action;
use latchkey_store::{BatchRow, NewProject as NewProjectRow, ProjectRow, StoreError};
use latchkey_types::content::{NewBatch, NewProject, Project, ProjectBatch};
use latchkey_types::{Envelope, Timestamp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{clip, is_dryrun, optional_json, project_for, readable_workspaces, validate_key};
use crate::access::{Find, RouteAccess};
use crate::auth::Caller;
use crate::error::{ApiJson, ApiPath, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_PROJECTS: RouteAccess =
    RouteAccess::new(Action::ReadWorkspace, Find::Listed, "listing projects");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_PROJECT: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::WorkspaceInBody,
    "creating a project",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_BATCHES: RouteAccess = RouteAccess::new(
    Action::ReadWorkspace,
    Find::Project {
        batch_exists: false,
    },
    "listing batches",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const GET_BATCH: RouteAccess = RouteAccess::new(
    Action::ReadWorkspace,
    Find::Project { batch_exists: true },
    "reading a batch",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_BATCH: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::Project {
        batch_exists: false,
    },
    "creating a batch",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const PUBLISH_BATCH: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::Project { batch_exists: true },
    "publishing a batch",
);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(list_batches))
        .routes(routes!(get_batch, create_batch))
        .routes(routes!(publish_batch))
}

fn project_wire(project: &ProjectRow) -> Project {
    Project {
        project: project.project.clone(),
        title: project.title.clone(),
        description: project.description.clone(),
        status: project.status.clone(),
        created: Timestamp(project.created_at()),
        workspace_id: project.workspace_id.clone(),
    }
}

fn batch_wire(project: &ProjectRow, batch: &BatchRow) -> ProjectBatch {
    ProjectBatch {
        project: project.project.clone(),
        batch: batch.batch.clone(),
        title: batch.title.clone(),
        status: batch.status.clone(),
        created: Timestamp(batch.created_at()),
        updated: Timestamp(batch.updated_at()),
    }
}

/// `GET v1/projects`: the projects of every workspace the caller may read.
#[utoipa::path(
    get,
    path = "/v1/projects",
    tag = "Projects",
    summary = "List projects",
    description = "The projects of every workspace the caller may read.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The projects.", body = Envelope<Vec<Project>>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Vec<Project>>>, AppError> {
    let readable: std::collections::HashSet<String> = readable_workspaces(&state, &caller)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let organization = caller.principal.organization.map(|(id, _)| id);
    let projects = if readable.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .projects(if caller.principal.is_operator {
                None
            } else {
                organization
            })
            .await?
    };
    Ok(Json(Envelope {
        data: projects
            .iter()
            .filter(|p| readable.contains(&p.workspace_id))
            .map(project_wire)
            .collect(),
    }))
}

/// `POST v1/projects`: "start a new project" in a workspace. The same key in the same
/// workspace again answers the existing project.
#[utoipa::path(
    post,
    path = "/v1/projects",
    tag = "Projects",
    summary = "Start a project",
    description = "Creates a project in a workspace (needs `developer` and `api:write`). \
        Project keys are unique per organization; the same key in the same workspace again \
        answers the existing project.",
    params(("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),),
    request_body = NewProject,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new project.", body = Envelope<Project>),
        (status = 200, description = "The project existed already in this workspace.",
            body = Envelope<Project>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<Response, AppError> {
    let workspace = caller
        .workspace(&state, &body.workspace_id, &CREATE_PROJECT)
        .await?;
    validate_key("project", &body.project)?;
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::bad_request(
            "invalid_title",
            "`title` must be 1 to 200 characters.",
        ));
    }
    let description = body.description.unwrap_or_default();
    if description.chars().count() > 10_000 {
        return Err(AppError::bad_request(
            "invalid_description",
            "`description` may be at most 10,000 characters.",
        ));
    }
    let existing = state
        .store
        .projects_by_key(&body.project)
        .await?
        .into_iter()
        .find(|p| p.organization_id == workspace.organization_id);
    if let Some(existing) = existing {
        return if existing.workspace_id == workspace.id {
            Ok(Json(Envelope {
                data: project_wire(&existing),
            })
            .into_response())
        } else {
            Err(project_taken(&body.project))
        };
    }
    if is_dryrun(&headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let created = state
        .store
        .create_project(&NewProjectRow {
            organization_id: workspace.organization_id,
            workspace_id: workspace.id.clone(),
            project: body.project.clone(),
            title: title.to_owned(),
            description,
            status: "ongoing".to_owned(),
            created_at: state.now(),
        })
        .await;
    match created {
        Ok(project) => {
            tracing::info!(project.key = %project.project, workspace.id = %workspace.id, "created a project");
            Ok((
                StatusCode::CREATED,
                Json(Envelope {
                    data: project_wire(&project),
                }),
            )
                .into_response())
        }
        // Created by a concurrent call, perhaps this call's own retry.
        Err(StoreError::Conflict) => Err(project_taken(&body.project)),
        Err(error) => Err(error.into()),
    }
}

fn project_taken(key: &str) -> AppError {
    AppError::bad_request(
        "project_exists",
        format!(
            "Your organization already has a project `{}` in another workspace; project keys \
             are unique per organization. Choose another key.",
            clip(key)
        ),
    )
}

/// `GET v1/projects/{project}/batches`.
#[utoipa::path(
    get,
    path = "/v1/projects/{project}/batches",
    tag = "Projects",
    summary = "List batches",
    description = "The batches of a project.",
    params(("project" = String, Path, description = "The project key.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The batches.", body = Envelope<Vec<ProjectBatch>>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn list_batches(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<Envelope<Vec<ProjectBatch>>>, AppError> {
    let (project, _) = project_for(&state, &caller, &project, &LIST_BATCHES).await?;
    let batches = state.store.batches(project.id).await?;
    Ok(Json(Envelope {
        data: batches.iter().map(|b| batch_wire(&project, b)).collect(),
    }))
}

/// `GET v1/projects/{project}/batches/{batch}`.
#[utoipa::path(
    get,
    path = "/v1/projects/{project}/batches/{batch}",
    tag = "Projects",
    summary = "Get a batch",
    description = "One batch of a project.",
    params(
        ("project" = String, Path, description = "The project key."),
        ("batch" = String, Path, description = "The batch key."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The batch.", body = Envelope<ProjectBatch>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn get_batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, batch)): ApiPath<(String, String)>,
) -> Result<Json<Envelope<ProjectBatch>>, AppError> {
    let (project, _) = project_for(&state, &caller, &project, &GET_BATCH).await?;
    let batch = state
        .store
        .batch(project.id, &batch)
        .await?
        .ok_or_else(|| missing_batch(&project, &batch))?;
    Ok(Json(Envelope {
        data: batch_wire(&project, &batch),
    }))
}

pub(crate) fn missing_batch(project: &ProjectRow, batch: &str) -> AppError {
    AppError::not_found(format!(
        "Project `{}` has no batch `{}`.",
        project.project,
        clip(batch)
    ))
}

/// `POST v1/projects/{project}/batches/{batch}`: creates an open batch; the same batch
/// again answers it as it is (the client retries POSTs).
#[utoipa::path(
    post,
    path = "/v1/projects/{project}/batches/{batch}",
    tag = "Projects",
    summary = "Create a batch",
    description = "Creates an open batch with this key. The same batch again answers it as \
        it is (the client retries POSTs). The body may be empty.",
    params(
        ("project" = String, Path, description = "The project key."),
        ("batch" = String, Path, description = "The new batch's key: 1 to 128 letters, \
            digits, `-`, `_` or `.`."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    request_body(content = Option<NewBatch>, description = "Optional; an empty body means `{}`."),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new batch.", body = Envelope<ProjectBatch>),
        (status = 200, description = "The batch existed already.", body = Envelope<ProjectBatch>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((project, batch)): ApiPath<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let (project, _) = project_for(&state, &caller, &project, &CREATE_BATCH).await?;
    validate_key("batch", &batch)?;
    let body: NewBatch = optional_json(&body)?;
    if is_dryrun(&headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (row, created) = state
        .store
        .create_batch(
            project.id,
            &batch,
            body.publish_previous_batches,
            state.now(),
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if created {
        tracing::info!(project.key = %project.project, batch.key = %row.batch, "created a batch");
    }
    Ok((
        status,
        Json(Envelope {
            data: batch_wire(&project, &row),
        }),
    )
        .into_response())
}

/// `POST v1/projects/{project}/batches/{batch}/publish` (no body): the batch becomes
/// `ready` and accepts no more scenes. Publishing again changes nothing.
#[utoipa::path(
    post,
    path = "/v1/projects/{project}/batches/{batch}/publish",
    tag = "Projects",
    summary = "Publish a batch",
    description = "The batch becomes `ready` and accepts no more scenes. Publishing again \
        changes nothing. No body.",
    params(
        ("project" = String, Path, description = "The project key."),
        ("batch" = String, Path, description = "The batch key."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The published batch.", body = Envelope<ProjectBatch>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn publish_batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((project, batch)): ApiPath<(String, String)>,
) -> Result<Response, AppError> {
    let (project, _) = project_for(&state, &caller, &project, &PUBLISH_BATCH).await?;
    let row = state
        .store
        .batch(project.id, &batch)
        .await?
        .ok_or_else(|| missing_batch(&project, &batch))?;
    if is_dryrun(&headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let row = state.store.publish_batch(row.id, state.now()).await?;
    Ok(Json(Envelope {
        data: batch_wire(&project, &row),
    })
    .into_response())
}
