//! HTTP routes over `http` types. Each Lambda mounts only its own route ([`function_router`]);
//! `pedro serve` mounts all of them ([`all_routes`]). The route table is the one list of endpoints.

mod analytics;
mod authorize;
mod auto_reply_rules;
pub mod blob_files;
mod calls;
mod configure;
mod conversations;
pub mod day_range;
pub mod error;
pub mod extract;
mod limits;
mod recording_link;
mod request_log;
mod search;
mod send;
mod settings;
pub mod twilio_webhook;
mod voip_sync;
pub mod webhook;
pub mod webhook_auth;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

pub use self::authorize::Access;
use self::error::ApiError;
use crate::app::AppContext;

/// Bodies larger than this get 413: the biggest legitimate one is a 1600-character text.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One API endpoint: its path (axum syntax), HTTP methods and the Lambda function that serves it.
pub struct Endpoint {
    pub function: &'static str,
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub access: Access,
    route: fn() -> MethodRouter<Arc<AppContext>>,
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        function: "sms-webhook",
        path: "/api/voip/sms/webhook",
        methods: &["GET", "POST"],
        access: Access::Public,
        route: || get(webhook::callback).post(webhook::json),
    },
    Endpoint {
        function: "sms-send",
        path: "/api/voip/sms/send",
        methods: &["POST"],
        access: Access::Staff,
        route: || post(send::send),
    },
    Endpoint {
        function: "sms-conversations",
        path: "/api/voip/sms/conversations",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(conversations::list),
    },
    Endpoint {
        function: "sms-conversation-messages",
        path: "/api/voip/sms/conversations/{id}/messages",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(conversations::messages),
    },
    Endpoint {
        function: "sms-conversation-review",
        path: "/api/voip/sms/conversations/{id}/review",
        methods: &["POST"],
        access: Access::Staff,
        route: || post(conversations::review),
    },
    Endpoint {
        function: "configure-webhook",
        path: "/api/voip/configure-webhook",
        methods: &["POST"],
        access: Access::Admin,
        route: || post(configure::configure),
    },
    Endpoint {
        function: "twilio-webhook",
        path: "/api/twilio/sms/webhook",
        methods: &["POST"],
        access: Access::Public,
        route: || post(twilio_webhook::receive),
    },
    Endpoint {
        function: "voip-sync",
        path: "/api/voip/sync",
        methods: &["POST"],
        access: Access::Admin,
        route: || post(voip_sync::sync_now),
    },
    Endpoint {
        function: "call-history",
        path: "/api/voip/calls/history",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(calls::history),
    },
    Endpoint {
        function: "call-recordings",
        path: "/api/voip/calls/recordings",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(calls::recordings),
    },
    Endpoint {
        function: "call-recording-link",
        path: "/api/voip/calls/recording/{recId}",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(recording_link::link),
    },
    Endpoint {
        function: "call-delete",
        path: "/api/voip/calls/{id}",
        methods: &["DELETE"],
        access: Access::Admin,
        route: || delete(calls::delete),
    },
    Endpoint {
        function: "search",
        path: "/api/voip/search",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(search::search),
    },
    Endpoint {
        function: "analytics",
        path: "/api/voip/analytics",
        methods: &["GET"],
        access: Access::Admin,
        route: || get(analytics::analytics),
    },
    // Two functions share the settings path: reading is for staff, changing for admins.
    // `all_routes` merges their method routers (axum's `route` does for a path it has seen).
    Endpoint {
        function: "settings",
        path: "/api/voip/settings",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(settings::get),
    },
    Endpoint {
        function: "settings-update",
        path: "/api/voip/settings",
        methods: &["PUT"],
        access: Access::Admin,
        route: || put(settings::update),
    },
    Endpoint {
        function: "auto-reply-rules",
        path: "/api/voip/settings/rules",
        methods: &["GET"],
        access: Access::Staff,
        route: || get(auto_reply_rules::list),
    },
    Endpoint {
        function: "auto-reply-rule-update",
        path: "/api/voip/settings/rules/{category}",
        methods: &["PUT"],
        access: Access::Admin,
        route: || put(auto_reply_rules::update),
    },
];

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

fn finish(router: Router<Arc<AppContext>>, ctx: Arc<AppContext>) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_log::log_request))
        .with_state(ctx)
}

impl Endpoint {
    /// The endpoint's handlers, behind the authorization layer unless it is public.
    fn method_router(&self, ctx: &Arc<AppContext>) -> MethodRouter<Arc<AppContext>> {
        let route = (self.route)();
        match self.access {
            Access::Public => route,
            access => route.route_layer(axum::middleware::from_fn_with_state(
                (ctx.clone(), access),
                authorize::authorize,
            )),
        }
    }
}

/// The router of one Lambda function. The webhook's also answers at `/`, so a function URL works
/// with or without the path.
pub fn function_router(function: &str, ctx: Arc<AppContext>) -> Option<Router> {
    let endpoint = ENDPOINTS.iter().find(|e| e.function == function)?;
    let mut router = Router::new().route(endpoint.path, endpoint.method_router(&ctx));
    if endpoint.function == "sms-webhook" {
        router = router.route("/", endpoint.method_router(&ctx));
    }
    Some(finish(router, ctx))
}

/// The OpenAPI document of every endpoint (kept true by tests/integration/openapi.rs).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Every endpoint, for `pedro serve`, with `/health` and `/openapi.json`.
pub fn all_routes(ctx: Arc<AppContext>) -> Router {
    let router = ENDPOINTS
        .iter()
        .fold(Router::new(), |router, e| router.route(e.path, e.method_router(&ctx)));
    let mut router = router.route("/health", get(|| async { "ok" })).route(
        "/openapi.json",
        get(|| async { ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI) }),
    );
    // Recordings kept in a local folder are downloaded through signed links served here.
    if let Some(folder) = &ctx.local_blob {
        router = router.merge(blob_files::router(folder.clone(), ctx.clock.clone()));
    }
    finish(router, ctx)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connect info gives handlers the peer address (the webhook's allow-list and rate limit).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
