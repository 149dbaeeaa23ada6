//! The operator's list of users and the form to add one.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use latchkey_core::access::Action;

use crate::access::{Find, RouteAccess, Target};
use crate::auth::{Caller, PageSession, Session};
use crate::error::{AppError, sentence};
use crate::state::AppState;
use crate::users::{AddUserError, add_user};

use super::{Nav, SessionForm, display_time, page_error, render};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserListItem>,
    error: Option<String>,
    notice: Option<String>,
    form_email: String,
    form_name: String,
}

struct UserListItem {
    id: i64,
    email: String,
    name: String,
    is_admin: bool,
    created: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct UsersQuery {
    added: Option<i64>,
}

/// Who may see and add the platform's users: the platform operator.
const USERS_PAGE: RouteAccess = RouteAccess::new(
    Action::ManagePlatform,
    Find::Platform,
    "managing the platform's users",
);

/// The refusal page when the signed-in person may not manage users, explained as the
/// permission decision explains it.
async fn admin_rejection(state: &AppState, session: &Session) -> Option<Response> {
    let allowed = match Caller::of_session(state, session).await {
        Ok(caller) => caller.authorize_route(&USERS_PAGE, Target::Platform),
        Err(error) => Err(error),
    };
    allowed.err().map(|error| page_error(session, error))
}

pub(super) async fn show_users(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<UsersQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&state, &session).await {
        return response;
    }
    let notice = match query.added {
        Some(id) => state
            .store
            .user_by_id(id)
            .await
            .ok()
            .flatten()
            .map(|u| format!("Added {} ({}). They can sign in now.", u.name, u.email)),
        None => None,
    };
    users_page(
        &state,
        &session,
        StatusCode::OK,
        notice,
        None,
        String::new(),
        String::new(),
    )
    .await
}

async fn users_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    form_email: String,
    form_name: String,
) -> Response {
    let users = match state.store.list_users().await {
        Ok(users) => users,
        Err(error) => return AppError::from(error).into_response(),
    };
    render(
        status,
        &UsersPage {
            nav: Nav::of(session),
            users: users
                .into_iter()
                .map(|u| UserListItem {
                    id: u.id,
                    is_admin: u.is_admin(),
                    created: display_time(u.created_at()),
                    email: u.email,
                    name: u.name,
                })
                .collect(),
            error,
            notice,
            form_email,
            form_name,
        },
    )
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    if let Some(response) = admin_rejection(&state, &session).await {
        return response;
    }
    let (Ok(email), Ok(name), Ok(password), Ok(is_admin)) = (
        form.one("email"),
        form.one("name"),
        form.one("password"),
        form.one("is_admin"),
    ) else {
        return page_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let password = SecretString::from(password.to_owned());
    match add_user(
        &state.store,
        email,
        name,
        Some(&password),
        is_admin == "on",
        None,
    )
    .await
    {
        Ok(user) => Redirect::to(&format!("/admin/users?added={}", user.id)).into_response(),
        Err(AddUserError::Store(error)) => AppError::from(error).into_response(),
        Err(error) => {
            let message = sentence(&error.to_string());
            users_page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some(message),
                email.chars().take(254).collect(),
                name.chars().take(100).collect(),
            )
            .await
        }
    }
}
