//! The front-desk console: plain HTML, CSS and JavaScript modules (`shared/console/`) embedded in
//! the binary and served by `pedro serve` at `/` and `/console/*`, with `/console/config.json`
//! telling the page where the API is and how people sign in. The page has no private route: it
//! calls the same public API as any other client, so the same files can be hosted anywhere.
//!
//! `CONSOLE_DIR=shared/console` serves the files from disk instead (edit and reload, no rebuild);
//! only the files listed here are served either way.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::error::ApiError;
use crate::app::AppContext;

struct Asset {
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, bytes: include_bytes!(concat!("../../console/", $path)) }),*]
    };
}

/// Every file of the console (a unit test checks the folder has no other).
const ASSETS: &[Asset] = assets![
    "index.html",
    "console.css",
    "icon.svg",
    "js/analytics.js",
    "js/api.js",
    "js/app.js",
    "js/auth.js",
    "js/calls.js",
    "js/dom.js",
    "js/format.js",
    "js/inbox.js",
    "js/search.js",
    "js/settings.js",
    "js/sms.js",
    "vendor/uplot/LICENSE",
    "vendor/uplot/uPlot.esm.js",
    "vendor/uplot/uPlot.min.css",
];

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// What the console's routes share, worked out once when the router is built.
struct Console {
    config: String,
    csp: HeaderValue,
    dir: Option<PathBuf>,
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
fn origin(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// The Content-Security-Policy of every console response: scripts, styles and everything else from
/// this origin only (no inline script or style, no eval); audio also from where recordings are
/// downloaded (the local links' base, or the S3 bucket); the API calls go to this origin and
/// Supabase Auth.
fn content_security_policy(ctx: &AppContext) -> String {
    let settings = &ctx.settings;
    let mut media = vec!["'self'".to_string()];
    match (&settings.recordings.bucket, &settings.recordings.s3_endpoint_url) {
        (Some(_), Some(endpoint)) => media.extend(origin(endpoint)),
        (Some(bucket), None) => {
            // Presigned links are virtual-hosted: `https://<bucket>.s3.<region>.amazonaws.com/…`.
            let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"));
            let host_safe = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            };
            match region {
                Ok(region) if host_safe(bucket) && host_safe(&region) => {
                    media.push(format!("https://{bucket}.s3.{region}.amazonaws.com"))
                }
                _ => media.push("https://*.amazonaws.com".into()),
            }
        }
        (None, _) => media.extend(origin(&settings.recordings.public_base_url)),
    }
    let mut connect = vec!["'self'".to_string()];
    connect.extend(settings.supabase_url.as_deref().and_then(origin));
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src {}; connect-src {}; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
        media.join(" "),
        connect.join(" ")
    )
}

/// `config.json`: the API is this origin (`apiBase` empty); no sign-in under
/// `--insecure-no-auth`, Supabase Auth otherwise.
fn config(ctx: &AppContext) -> String {
    json!({
        "apiBase": "",
        "auth": if ctx.insecure_no_auth { "none" } else { "supabase" },
        "supabaseUrl": ctx.settings.supabase_url,
        "supabaseAnonKey": ctx.settings.supabase_anon_key,
    })
    .to_string()
}

/// The console's routes, with their own state, to merge into `pedro serve`'s router.
pub fn router<S: Clone + Send + Sync + 'static>(ctx: &AppContext) -> Router<S> {
    let console = Arc::new(Console {
        config: config(ctx),
        csp: HeaderValue::from_str(&content_security_policy(ctx)).expect("a CSP is ASCII"),
        dir: std::env::var_os("CONSOLE_DIR").map(PathBuf::from),
    });
    Router::new()
        .route("/", get(index))
        .route("/console/config.json", get(config_json))
        .route("/console/{*path}", get(asset))
        .with_state(console)
}

/// Headers every console response carries.
fn secured(console: &Console, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, console.csp.clone());
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn index(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    serve(&console, "index.html", &headers).await
}

async fn config_json(State(console): State<Arc<Console>>) -> Response {
    let response = (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        console.config.clone(),
    )
        .into_response();
    secured(&console, response)
}

async fn asset(State(console): State<Arc<Console>>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&console, &path, &headers).await
}

async fn serve(console: &Console, path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return ApiError::not_found("no such file").into_response();
    };
    let bytes: Vec<u8> = match &console.dir {
        Some(dir) => match tokio::fs::read(dir.join(asset.path)).await {
            Ok(bytes) => bytes,
            Err(_) => return ApiError::not_found("no such file in CONSOLE_DIR").into_response(),
        },
        None => asset.bytes.to_vec(),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let etag = format!(
        "\"{}\"",
        digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    // The names carry no version, so browsers revalidate every time (a 304 when unchanged) and a
    // new release is picked up at once.
    let cache = [
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, etag.clone()),
    ];
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let response = if unchanged {
        (StatusCode::NOT_MODIFIED, cache).into_response()
    } else {
        (cache, [(header::CONTENT_TYPE, content_type(path))], bytes).into_response()
    };
    secured(console, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_folder_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    found.push(path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("vendor/uplot/uPlot.min.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("vendor/uplot/LICENSE"), "text/plain; charset=utf-8");
    }

    #[test]
    fn origins_drop_paths() {
        assert_eq!(
            origin("http://127.0.0.1:3000/files").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            origin("https://abc.supabase.co/").as_deref(),
            Some("https://abc.supabase.co")
        );
        assert_eq!(origin("not a url"), None);
    }
}
