//! The console's files as `pedro serve` serves them: `/`, every module the page imports, the CSS,
//! the chart library's licence and `config.json`, each with its content type, revalidation headers
//! and the Content-Security-Policy; no inline script; the API behind it still wants a token.

use std::collections::BTreeSet;

use pedro_tests::spawn_app;
use reqwest::header;
use serde_json::{json, Value};

/// The relative imports of a JavaScript module (`from './x.js'`, `from '../vendor/…'`).
fn imports(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("import "))
        .filter_map(|rest| rest.rsplit_once(" from ").map(|(_, from)| from))
        .map(|from| from.trim().trim_end_matches(';').trim_matches(['\'', '"']).to_string())
        .filter(|from| from.starts_with('.'))
        .collect()
}

/// `dir/../x` and `dir/./x` resolved, as a browser resolves a module's imports.
fn resolve(dir: &str, relative: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[tokio::test]
async fn the_console_is_served_with_its_types_and_policy() {
    let app = spawn_app()
        .env("SUPABASE_URL", "https://abcd.supabase.co/")
        .env("SUPABASE_ANON_KEY", "public-anon-key")
        .start()
        .await;
    let anonymous = reqwest::Client::new();
    let fetch = |path: String| {
        let anonymous = anonymous.clone();
        let url = app.url(&path);
        async move { anonymous.get(url).send().await.unwrap() }
    };

    let page = fetch("/".into()).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "style-src 'self';",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        // Recordings come from the local links' base; sign-in goes to Supabase.
        &format!("media-src 'self' {};", app.address),
        "connect-src 'self' https://abcd.supabase.co;",
    ] {
        assert!(csp.contains(directive), "{directive:?} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text().await.unwrap();
    // Every script is a file (the CSP would refuse an inline one anyway).
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script type=\"module\" src=").count()
    );
    assert!(html.contains("src=\"console/js/app.js\""), "{html}");
    assert!(!html.contains("style="), "no inline style");

    // Every module the page loads, followed through its imports.
    let mut todo = vec!["/console/js/app.js".to_string()];
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = fetch(path.clone()).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8",
            "{path}"
        );
        assert!(response.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let source = response.text().await.unwrap();
        assert!(!source.contains("innerHTML"), "{path} uses innerHTML");
        assert!(!source.contains("eval("), "{path} uses eval");
        let dir = path.rsplit_once('/').unwrap().0.to_string();
        todo.extend(imports(&source).iter().map(|i| resolve(&dir, i)));
    }
    assert!(seen.contains("/console/vendor/uplot/uPlot.esm.js"), "{seen:?}");
    assert!(seen.len() >= 10, "{seen:?}");

    for (path, content_type) in [
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
        ("/console/vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let response = fetch(path.into()).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], content_type, "{path}");
    }
    let licence = fetch("/console/vendor/uplot/LICENSE".into())
        .await
        .text()
        .await
        .unwrap();
    assert!(licence.contains("MIT License"), "{licence}");

    // Unchanged files revalidate to 304.
    let css = fetch("/console/console.css".into()).await;
    let etag = css.headers()[header::ETAG].clone();
    let again = anonymous
        .get(app.url("/console/console.css"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Where the API is and how to sign in.
    let config = fetch("/console/config.json".into()).await;
    assert_eq!(config.status(), 200);
    assert_eq!(config.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(config.headers()[header::CACHE_CONTROL], "no-store");
    let config: Value = config.json().await.unwrap();
    assert_eq!(
        config,
        json!({"apiBase": "", "auth": "supabase", "supabaseUrl": "https://abcd.supabase.co",
               "supabaseAnonKey": "public-anon-key"})
    );

    // Nothing else is served, and the page opens no door to the API.
    assert_eq!(fetch("/console/../Cargo.toml".into()).await.status(), 404);
    assert_eq!(fetch("/console/js/missing.js".into()).await.status(), 404);
    let api = fetch("/api/voip/sms/conversations".into()).await;
    assert_eq!(api.status(), 401);
}

#[test]
fn imports_are_read_and_resolved_like_a_browser() {
    assert_eq!(
        imports("import uPlot from '../vendor/uplot/uPlot.esm.js';\nimport { h } from './dom.js';\nconst x = 1;"),
        vec!["../vendor/uplot/uPlot.esm.js", "./dom.js"]
    );
    assert_eq!(resolve("/console/js", "../vendor/a.js"), "/console/vendor/a.js");
    assert_eq!(resolve("/console/js", "./dom.js"), "/console/js/dom.js");
}
