//! The sample trigger events in `events/`. Those of protected endpoints carry a placeholder where
//! the caller's access token goes; tests put a fresh one there.

pub const TOKEN_PLACEHOLDER: &str = "REPLACE_WITH_A_SUPABASE_ACCESS_TOKEN";

pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// `events/<function>.json`, with `token` as the bearer token.
pub fn fixture(function: &str, token: &str) -> String {
    let path = dir().join(format!("{function}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace(TOKEN_PLACEHOLDER, token)
}
