//! What is wrong with one field of an edit, and the small readers of JSON fields the settings and
//! rule edits share. A field is named as the client wrote it (`officeHours.mon[0]`), so a form can
//! point at it.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// `None` when the body as a whole is wrong (nothing to change).
    pub field: Option<String>,
    /// Starts with the field's name, so it reads alone.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self {
            message: format!("{field}: {problem}"),
            field: Some(field),
        }
    }

    pub fn body(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

pub fn string<'a>(field: &str, value: &'a Value) -> Result<&'a str, FieldError> {
    value.as_str().ok_or_else(|| FieldError::new(field, "must be a string"))
}

/// A string, or `None` for JSON null.
pub fn nullable_string<'a>(field: &str, value: &'a Value) -> Result<Option<&'a str>, FieldError> {
    match value {
        Value::Null => Ok(None),
        other => string(field, other).map(Some),
    }
}

pub fn boolean(field: &str, value: &Value) -> Result<bool, FieldError> {
    value
        .as_bool()
        .ok_or_else(|| FieldError::new(field, "must be true or false"))
}

/// A whole number in `range` (1.0 or "1" are not whole numbers here).
pub fn integer(field: &str, value: &Value, range: std::ops::RangeInclusive<i32>) -> Result<i32, FieldError> {
    let problem = || {
        FieldError::new(
            field,
            format!("must be a whole number from {} to {}", range.start(), range.end()),
        )
    };
    let n = value.as_i64().ok_or_else(problem)?;
    i32::try_from(n).ok().filter(|n| range.contains(n)).ok_or_else(problem)
}

/// A trimmed text of 1 to `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    // Postgres text cannot hold NUL: refused here rather than a 500 there.
    if trimmed.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let length = trimmed.chars().count();
    if length > max {
        return Err(FieldError::new(
            field,
            format!("is {length} characters long; at most {max} are allowed"),
        ));
    }
    Ok(trimmed.to_string())
}

pub fn object<'a>(field: &str, value: &'a Value) -> Result<&'a Map<String, Value>, FieldError> {
    value
        .as_object()
        .ok_or_else(|| FieldError::new(field, "must be an object"))
}

/// The first `{name}` in `text` that is not one of `known` (names without braces). Only
/// `{word}` counts as a placeholder: other braces are sent as they are.
pub fn unknown_placeholder(text: &str, known: &[&str]) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let name = &after[..close];
            let word = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if word && !known.contains(&name) {
                return Some(format!("{{{name}}}"));
            }
        }
        rest = after;
    }
    None
}

/// Checks `text` uses only `known` placeholders; the error names the first unknown one.
pub fn only_placeholders(field: &str, text: &str, known: &[&str]) -> Result<(), FieldError> {
    match unknown_placeholder(text, known) {
        None => Ok(()),
        Some(unknown) => {
            let allowed: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
            Err(FieldError::new(
                field,
                format!(
                    "unknown placeholder {unknown}; the placeholders are {}",
                    allowed.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unknown_placeholders_and_leaves_other_braces_alone() {
        let known = ["practice_name", "address"];
        assert_eq!(unknown_placeholder("{practice_name} at {address}", &known), None);
        assert_eq!(
            unknown_placeholder("{practice_name} {phone}", &known).as_deref(),
            Some("{phone}")
        );
        assert_eq!(unknown_placeholder("a { b } {} {address", &known), None);
        assert_eq!(unknown_placeholder("{{address}}", &known), None);
        let error = only_placeholders("replyText", "Call {phone}", &known).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("replyText"));
        assert!(
            error.message.starts_with("replyText: unknown placeholder {phone}"),
            "{}",
            error.message
        );
    }

    #[test]
    fn numbers_and_texts_are_checked() {
        assert_eq!(integer("n", &serde_json::json!(5), 0..=10), Ok(5));
        for bad in [
            serde_json::json!(11),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!("5"),
        ] {
            assert!(integer("n", &bad, 0..=10).is_err(), "{bad}");
        }
        assert_eq!(text("t", "  hi ", 2), Ok("hi".into()));
        assert!(text("t", "   ", 2).is_err());
        assert!(text("t", "a\0b", 5).is_err());
        assert_eq!(
            text("t", "héllo", 4).unwrap_err().message,
            "t: is 5 characters long; at most 4 are allowed"
        );
    }
}
