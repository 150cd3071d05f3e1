//! Locating an error in the file's text: the span of a field path, as file:line:col.

use std::ops::Range;

use super::FileError;
use crate::text::line_col;

/// Maps a model validation field to the file's key path.
pub(super) fn file_path_of(field: &str) -> String {
    field.replace("schedule.sample_success_ppm", "schedule.sample_success")
}

/// Span of the value at a dotted path like `schedule.report.window` or `settings[2].uri`;
/// falls back to the nearest existing ancestor, then to the whole document.
pub(super) fn span_of(text: &str, path: &str) -> Range<usize> {
    use toml::de::{DeTable, DeValue};
    let Ok(doc) = DeTable::parse(text) else {
        return 0..0;
    };
    let mut span = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(t) = table.or(match value {
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        }) else {
            break;
        };
        let Some(v) = t.get(key) else { break };
        span = v.span();
        value = Some(v.get_ref());
        table = None;
        if let Some(i) = index {
            let Some(DeValue::Array(a)) = value else {
                break;
            };
            let Some(item) = a.get(i) else { break };
            span = item.span();
            value = Some(item.get_ref());
        }
    }
    span
}

pub(super) fn located(
    file: &str,
    text: &str,
    span: Range<usize>,
    path: String,
    message: String,
) -> FileError {
    let (line, col) = line_col(text, span.start);
    FileError {
        file: file.to_string(),
        line,
        col,
        path,
        message,
    }
}
