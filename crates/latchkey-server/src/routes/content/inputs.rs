//! Inputs: a created scene placed in a project's batch (CONTRACT.md §3.10). The same
//! scene in the same batch again answers the same input.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey_core::access::Action;
use latchkey_store::{InputQuery as InputQueryRow, InputRow, NewInput};
use latchkey_types::Envelope;
use latchkey_types::content::{Input, InputQuery, NewInputV1, NewInputV2, Page, PageMetadata};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::missing_batch;
use super::scenes::open_batch;
use super::{
    distinct_ids, is_dryrun, project_for, query_param, readable_workspaces, scene_for, view_link,
};
use crate::access::{Find, RouteAccess};
use crate::auth::Caller;
use crate::error::{ApiJson, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_INPUT: RouteAccess =
    RouteAccess::new(Action::WriteWorkspace, Find::Input, "creating an input");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const QUERY_INPUTS: RouteAccess =
    RouteAccess::new(Action::ReadWorkspace, Find::InputQuery, "reading inputs");

/// Inputs per page of `v2/inputs/query`.
const PAGE_SIZE: i64 = 100;
/// Ids one input query may filter by.
const MAX_FILTER_IDS: usize = 1_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inputs_v1))
        .routes(routes!(create_input_v2))
        .routes(routes!(query_inputs))
}

fn input_wire(state: &AppState, row: &InputRow) -> Input {
    Input {
        uuid: row.uuid.clone(),
        scene_uuid: row.scene_uuid.clone(),
        request_uid: row.request_uid.clone(),
        scene_external_id: row.scene_external_id.clone(),
        view_link: view_link(state, &row.scene_uuid),
    }
}

/// Creates (or finds) the input of a scene in a project's batch; `None` on dryrun.
async fn create(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    scene_uuid: &str,
    project: &str,
    batch: Option<&str>,
) -> Result<Option<InputRow>, AppError> {
    // Writing, not reading: the input lands in the scene's workspace, and asking for
    // read first would send someone who lacks both on a second trip for the second.
    let (scene, _) = scene_for(state, caller, scene_uuid, &CREATE_INPUT).await?;
    let (project, _) = project_for(state, caller, project, &CREATE_INPUT).await?;
    if project.workspace_id != scene.workspace_id {
        return Err(AppError::bad_request(
            "project_in_other_workspace",
            format!(
                "Scene {} is in workspace {}, project `{}` in {}; inputs need both in one \
                 workspace.",
                scene.uuid, scene.workspace_id, project.project, project.workspace_id
            ),
        ));
    }
    if !matches!(scene.status.as_str(), "created" | "indexed") {
        return Err(AppError::bad_request(
            "scene_not_created",
            format!(
                "Scene {} is {}; only a created scene can become an input{}.",
                scene.uuid,
                scene.status,
                if scene.status == "pending" {
                    " (upload its files and commit it first)"
                } else {
                    ""
                }
            ),
        ));
    }
    let batch = open_batch(state, &project, batch).await?;
    if let Some(existing) = state.store.input_of(&scene.uuid, batch.id).await? {
        return Ok(Some(existing));
    }
    if is_dryrun(headers) {
        return Ok(None);
    }
    let row = state
        .store
        .create_input(&NewInput {
            uuid: uuid::Uuid::new_v4().to_string(),
            scene_uuid: scene.uuid.clone(),
            project_id: project.id,
            batch_id: batch.id,
            request_uid: format!("{}:{}", project.project, batch.batch),
            created_at: state.now(),
        })
        .await?;
    tracing::info!(input.uuid = %row.uuid, scene.uuid = %scene.uuid, "created an input");
    Ok(Some(row))
}

/// `POST v1/inputs`: answers a list with the one input.
#[utoipa::path(
    post,
    path = "/v1/inputs",
    tag = "Inputs",
    summary = "Create an input (v1)",
    description = "Places a created scene in a project's batch (the latest open one when \
        `batch` is absent); both must be in one workspace. Answers a list with the one \
        input. The same scene in the same batch again answers the same input.",
    params(("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),),
    request_body = NewInputV1,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The input, in a list.", body = Envelope<Vec<Input>>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_inputs_v1(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewInputV1>,
) -> Result<Response, AppError> {
    let row = create(
        &state,
        &caller,
        &headers,
        &body.scene_uuid,
        &body.project,
        body.batch.as_deref(),
    )
    .await?;
    Ok(match row {
        Some(row) => Json(Envelope {
            data: vec![input_wire(&state, &row)],
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `POST v2/inputs`: answers the one input.
#[utoipa::path(
    post,
    path = "/v2/inputs",
    tag = "Inputs",
    summary = "Create an input",
    description = "Places a created scene in the batch `batchExtId` (the latest open one \
        when absent) of the project `projectExtId`. `requestUuid` and `preAnnotationUuid` \
        are refused: this server has neither. The same scene in the same batch again \
        answers the same input.",
    params(("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),),
    request_body = NewInputV2,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The input.", body = Envelope<Input>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_input_v2(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewInputV2>,
) -> Result<Response, AppError> {
    if body.request_uuid.is_some() {
        return Err(AppError::bad_request(
            "unsupported_field",
            "This server has no requests; send `projectExtId` (and `batchExtId`) instead of \
             `requestUuid`.",
        ));
    }
    if body.pre_annotation_uuid.is_some() {
        return Err(AppError::bad_request(
            "unsupported_field",
            "This server has no pre-annotations; leave out `preAnnotationUuid`.",
        ));
    }
    let project = body
        .project_ext_id
        .as_deref()
        .ok_or_else(|| AppError::bad_request("missing_project", "`projectExtId` is required."))?;
    let row = create(
        &state,
        &caller,
        &headers,
        &body.scene_uuid,
        project,
        body.batch_ext_id.as_deref(),
    )
    .await?;
    Ok(match row {
        Some(row) => Json(Envelope {
            data: input_wire(&state, &row),
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

fn filter_ids(field: &str, ids: Option<&Vec<String>>) -> Result<Option<Vec<String>>, AppError> {
    let Some(ids) = ids else { return Ok(None) };
    if ids.len() > MAX_FILTER_IDS {
        return Err(AppError::bad_request(
            "too_many_ids",
            format!(
                "`{field}` names {} ids; an input query takes at most {MAX_FILTER_IDS}.",
                ids.len()
            ),
        ));
    }
    distinct_ids(field, ids).map(Some)
}

/// `POST v2/inputs/query[?cursorId=]`: paginated; the next page is the same body with
/// `?cursorId=<metadata.nextCursorId>`.
#[utoipa::path(
    post,
    path = "/v2/inputs/query",
    tag = "Inputs",
    summary = "Query inputs",
    description = "Inputs matching every filter present, 100 per page. The next page is the \
        same call with `?cursorId=` set to the page's `metadata.nextCursorId`, which is \
        null on the last page.",
    params(
        ("cursorId" = Option<i64>, Query, description = "`metadata.nextCursorId` of the \
            previous page."),
    ),
    request_body = InputQuery,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of inputs.", body = Page<Input>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn query_inputs(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    ApiJson(body): ApiJson<InputQuery>,
) -> Result<Json<Page<Input>>, AppError> {
    let after_id = match query_param(query.as_deref(), "cursorId") {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|c| *c >= 0)
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_cursor",
                    "`cursorId` must be a `nextCursorId` from an earlier page.",
                )
            })?,
        None => 0,
    };
    let scene_uuids = filter_ids("sceneUuids", body.scene_uuids.as_ref())?;
    let external_ids = filter_ids("externalIds", body.external_ids.as_ref())?;
    let mut filter = InputQueryRow {
        scene_uuids,
        external_ids,
        after_id,
        limit: PAGE_SIZE + 1,
        ..InputQueryRow::default()
    };
    match (&body.project, &body.batch) {
        (Some(project), batch) => {
            let (project, workspace) = project_for(&state, &caller, project, &QUERY_INPUTS).await?;
            filter.workspace_ids = vec![workspace.id];
            filter.project_id = Some(project.id);
            if let Some(batch) = batch {
                let row = state
                    .store
                    .batch(project.id, batch)
                    .await?
                    .ok_or_else(|| missing_batch(&project, batch))?;
                filter.batch_id = Some(row.id);
            }
        }
        (None, Some(_)) => {
            return Err(AppError::bad_request(
                "missing_project",
                "`batch` needs `project`: batch keys are unique within a project.",
            ));
        }
        (None, None) => {
            filter.workspace_ids = readable_workspaces(&state, &caller)
                .await?
                .into_iter()
                .map(|w| w.id)
                .collect();
        }
    }
    let mut rows = state.store.query_inputs(&filter).await?;
    let page = usize::try_from(PAGE_SIZE).unwrap_or(100);
    let next_cursor_id = if rows.len() > page {
        rows.truncate(page);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(Page {
        data: rows.iter().map(|r| input_wire(&state, r)).collect(),
        metadata: PageMetadata { next_cursor_id },
    }))
}
