//! Text forms of the model's scalars, written once for every format that needs them
//! (campaign files, Generic Alerts, the CLI): hex, RFC 3339 date-times, human durations,
//! and the line:column of a byte offset.

#[cfg(feature = "server")]
use crate::time::Duration;
use crate::time::Timestamp;

/// `s` with every control, separator, zero-width and bidi character escaped ([`hidden`];
/// `\u{1b}` for ESC, `\u{202e}` for RIGHT-TO-LEFT OVERRIDE): safe to print in a message,
/// a log line or a terminal whatever untrusted input it quotes.
pub fn printable(s: &str) -> String {
    if s.is_ascii() && first_control(s).is_none() {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if hidden(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Characters that print as nothing or rearrange what follows: C0, DEL and C1 controls, the
/// line and paragraph separators (U+2028, U+2029), zero-width and bidi formatting
/// characters (U+200B–U+200F, U+202A–U+202E, U+2060–U+2069, U+061C, U+FEFF). Error text
/// shows them escaped, so a hostile id cannot forge or hide part of a message.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{061C}'
                | '\u{FEFF}'
        )
}

/// The first control character in `s` (C0, DEL or C1: [`char::is_control`]). ASCII text,
/// nearly every URI, is checked a whole slice at a time rather than a character at a time.
pub fn first_control(s: &str) -> Option<char> {
    if s.is_ascii()
        && !s
            .bytes()
            .fold(false, |seen, b| seen | (b < 0x20) | (b == 0x7f))
    {
        return None;
    }
    s.chars().find(|c| c.is_control())
}

/// Lower-case hex of `b`.
pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes of an even-length hex string, or `None`.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(feature = "server")]
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(feature = "server")]
pub(crate) fn datetime_to_timestamp(dt: &toml::value::Datetime) -> Result<Timestamp, String> {
    let (Some(date), Some(time), Some(offset)) = (dt.date, dt.time, dt.offset) else {
        return Err(format!(
            "expected an RFC 3339 date-time with an offset, like 2026-11-25T10:00:00Z, found {dt}"
        ));
    };
    let offset_min = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    );
    let secs = days * 86_400
        + i64::from(time.hour) * 3_600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0))
        - offset_min * 60;
    let ms = secs * 1_000 + i64::from(time.nanosecond.unwrap_or(0) / 1_000_000);
    u64::try_from(ms)
        .map(Timestamp)
        .map_err(|_| format!("{dt} is before 1970"))
}

/// RFC 3339 (UTC, `Z`) text of `t`, with milliseconds when they are not zero.
pub fn format_rfc3339(t: Timestamp) -> String {
    timestamp_to_datetime(t)
}

pub(crate) fn timestamp_to_datetime(t: Timestamp) -> String {
    t.rfc3339()
}

/// Parses RFC 3339 text with an offset (`2026-11-25T10:00:00Z`). With the `server` feature
/// (it reads TOML's date-time).
#[cfg(feature = "server")]
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    let dt: toml::value::Datetime = s.trim().parse().map_err(|_| {
        format!("expected an RFC 3339 date-time like 2026-11-25T10:00:00Z, found {s:?}")
    })?;
    datetime_to_timestamp(&dt)
}

/// Parses a human duration (`"30s"`, `"2h"`, `"7d"`, `"1500ms"`).
#[cfg(feature = "server")]
pub fn parse_human_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|_| format!("expected a duration like \"2h\", found {s:?}"))?;
    u64::try_from(d.as_millis())
        .map(Duration)
        .map_err(|_| format!("duration {s:?} is too long"))
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // An offset inside a character (never given by the parsers) counts the whole text.
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_would_hide_or_reorder_text() {
        // N11 (issue 29): separators, zero-width and bidi characters, not only controls.
        let hostile = "IMEI:1\u{202E}gnp.exe\u{2028}fake line\u{200B}\u{1b}[31m";
        let shown = printable(hostile);
        assert_eq!(
            shown,
            "IMEI:1\\u{202e}gnp.exe\\u{2028}fake line\\u{200b}\\u{1b}[31m"
        );
        assert!(!shown.chars().any(hidden));
        // Ordinary text, accents and scripts included, is left alone.
        for plain in ["./AP/Default/APN", "café", "Ünïcode", "דוגמה", "设备"] {
            assert_eq!(printable(plain), plain);
        }
    }

    #[test]
    fn dates_convert_both_ways() {
        for (s, ms) in [
            ("1970-01-01T00:00:00Z", 0u64),
            ("2026-11-25T10:00:00Z", 1_795_600_800_000),
            ("2000-02-29T23:59:59.250Z", 951_868_799_250),
        ] {
            let dt: toml::value::Datetime = s.parse().unwrap();
            assert_eq!(datetime_to_timestamp(&dt).unwrap(), Timestamp(ms), "{s}");
            assert_eq!(timestamp_to_datetime(Timestamp(ms)), s);
        }
        let dt: toml::value::Datetime = "2026-11-25T12:00:00+02:00".parse().unwrap();
        assert_eq!(
            datetime_to_timestamp(&dt).unwrap(),
            Timestamp(1_795_600_800_000)
        );
        let local: toml::value::Datetime = "2026-11-25T12:00:00".parse().unwrap();
        assert!(datetime_to_timestamp(&local).is_err());
    }

    #[test]
    fn durations_and_ratios_parse() {
        assert_eq!(
            parse_human_duration("30s").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(parse_human_duration("7d").unwrap(), Duration::from_days(7));
        assert_eq!(
            parse_human_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_human_duration("soon").unwrap_err(),
            "expected a duration like \"2h\", found \"soon\""
        );
    }
}

#[cfg(test)]
mod control_tests {
    use super::first_control;

    #[test]
    fn first_control_agrees_with_char_is_control_for_every_char() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            for s in [format!("./Node/{c}"), format!("./{c}/Ä/\u{1b}")] {
                let expected = s.chars().find(|c| c.is_control());
                assert_eq!(first_control(&s), expected, "{:?}", c);
            }
        }
        assert_eq!(first_control(""), None);
        assert_eq!(first_control("./a\u{7f}b"), Some('\u{7f}'));
        assert_eq!(first_control("./é\u{85}"), Some('\u{85}'));
    }
}
