//! `GET /files/{*key}`: the download links of the local object store ([`LocalFolder`]), for
//! `pedro serve`. A link is its own credential (signed, short-lived), so the route takes no token.
//! Range requests are answered (206, or 416 when unsatisfiable), since a browser's audio element
//! seeks with them.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::blob::{LinkError, LocalFolder};
use crate::clock::Clock;
use crate::http::error::ApiError;

/// Where the route is mounted; [`LocalFolder`]'s links point here.
pub const PATH: &str = "/files/{*key}";

/// What the route needs: the folder whose links it checks, and the time to check them against.
#[derive(Clone)]
pub struct SignedFiles {
    pub folder: Arc<LocalFolder>,
    pub clock: Arc<dyn Clock>,
}

/// The route with its own state, to merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>(folder: Arc<LocalFolder>, clock: Arc<dyn Clock>) -> Router<S> {
    Router::new()
        .route(PATH, get(serve_signed))
        .with_state(SignedFiles { folder, clock })
}

fn refused(error: LinkError) -> ApiError {
    match error {
        LinkError::BadSignature => {
            ApiError::new(StatusCode::FORBIDDEN, "link_invalid", "this download link is not valid")
        }
        LinkError::Expired => ApiError::new(
            StatusCode::FORBIDDEN,
            "link_expired",
            "this download link has expired; ask for a new one",
        ),
    }
}

pub async fn serve_signed(
    State(files): State<SignedFiles>,
    key: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let Ok(Path(key)) = key else {
        return refused(LinkError::BadSignature).into_response();
    };
    let (mut expires, mut signature) = (String::new(), String::new());
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "expires" => expires = value.into_owned(),
            "signature" => signature = value.into_owned(),
            _ => {}
        }
    }
    let path = match files.folder.verify(&key, &expires, &signature, files.clock.now()) {
        Ok(path) => path,
        Err(error) => return refused(error).into_response(),
    };
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return ApiError::not_found("no such file").into_response();
    }
    // ServeFile answers Range (one range; several get 416), HEAD and conditional requests, and
    // guesses the type from the extension when none was stored.
    let Ok(served) = ServeFile::new(&path).oneshot(request).await;
    let mut response = served.map(axum::body::Body::new);
    let headers = response.headers_mut();
    if let Some(stored) = files.folder.content_type_of(&path).await {
        if let Ok(value) = HeaderValue::from_str(&stored) {
            headers.insert(header::CONTENT_TYPE, value);
        }
    }
    // A patient's voice: never kept in a shared cache or the browser's disk cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
