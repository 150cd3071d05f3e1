//! WBXML (WAP-192) for SyncML DM 1.2: the binary form most handsets send
//! (`application/vnd.syncml.dm+wbxml`), decoded to and encoded from the XML devcare reads
//! and writes (`docs/oma-dm.md`, "WBXML").
//!
//! Two code pages: 0, SyncML (`SYNCML:SYNCML1.2`), and 1, MetInf (`syncml:metinf`), the
//! token tables of the SyncML DM 1.2 representation (public id `0x1201`, "-//SYNCML//DTD
//! SyncML 1.2//EN"). The decoder reads inline strings, string-table references, opaque data
//! (as text when it is UTF-8), character entities and literal tag names from the string
//! table; attributes, processing instructions and extensions are refused (SyncML DM uses
//! none). Every length is checked against what is left of the input before anything is
//! allocated for it; nesting is bounded; the output is bounded by the input's size.

use std::collections::HashMap;

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// WBXML public identifier of SyncML DM 1.2.
pub const PUBLIC_ID_DM_1_2: u32 = 0x1201;
/// IANA MIBenum of UTF-8, the only charset read or written.
const UTF8: u32 = 106;
/// Deepest element nesting read (a DM message nests about 8 deep).
const MAX_DEPTH: usize = 64;

/// SyncML code page 0, tokens 0x05 upward.
const SYNCML: [&str; 56] = [
    "Add",
    "Alert",
    "Archive",
    "Atomic",
    "Chal",
    "Cmd",
    "CmdID",
    "CmdRef",
    "Copy",
    "Cred",
    "Data",
    "Delete",
    "Exec",
    "Final",
    "Get",
    "Item",
    "Lang",
    "LocName",
    "LocURI",
    "Map",
    "MapItem",
    "Meta",
    "MsgID",
    "MsgRef",
    "NoResp",
    "NoResults",
    "Put",
    "Replace",
    "RespURI",
    "Results",
    "Search",
    "Sequence",
    "SessionID",
    "SftDel",
    "Source",
    "SourceRef",
    "Status",
    "Sync",
    "SyncBody",
    "SyncHdr",
    "SyncML",
    "Target",
    "TargetRef",
    "Reserved",
    "VerDTD",
    "VerProto",
    "NumberOfChanges",
    "MoreData",
    "Field",
    "Filter",
    "Record",
    "FilterType",
    "SourceParent",
    "TargetParent",
    "Move",
    "Correlator",
];
/// MetInf code page 1, tokens 0x05 upward.
const METINF: [&str; 18] = [
    "Anchor",
    "EMI",
    "Format",
    "FreeID",
    "FreeMem",
    "Last",
    "Mark",
    "MaxMsgSize",
    "Mem",
    "MetInf",
    "Next",
    "NextNonce",
    "SharedMem",
    "Size",
    "Type",
    "Version",
    "MaxObjSize",
    "FieldLevel",
];

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const STR_T: u8 = 0x83;
const OPAQUE: u8 = 0xC3;

/// Why bytes are not a SyncML DM WBXML document this decoder reads, or XML the encoder
/// cannot write. `at` is the byte offset (decoding) or the XML element (encoding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WBXML at byte {at}: {message}")]
pub struct WbxmlError {
    /// Byte offset in the input (0 for an encoding error).
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

fn err(at: usize, message: impl Into<String>) -> WbxmlError {
    WbxmlError {
        at,
        message: message.into(),
    }
}

/// Whether `bytes` look like WBXML rather than XML: a WBXML version byte (1.0–1.3) first,
/// where XML starts with `<`, whitespace or a byte-order mark.
pub fn is_wbxml(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x00..=0x03))
}

struct Input<'a> {
    b: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, WbxmlError> {
        let v = *self
            .b
            .get(self.at)
            .ok_or_else(|| err(self.at, "ends early"))?;
        self.at += 1;
        Ok(v)
    }

    /// A multi-byte unsigned integer: at most 5 bytes, at most 32 bits.
    fn mb_u32(&mut self) -> Result<u32, WbxmlError> {
        let start = self.at;
        let mut v: u64 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            v = (v << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| err(start, "integer over 32 bits"));
            }
        }
        Err(err(start, "integer longer than 5 bytes"))
    }

    /// A NUL-terminated inline string.
    fn cstr(&mut self) -> Result<&str, WbxmlError> {
        let start = self.at;
        let rest = &self.b[self.at..];
        let n = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| err(start, "inline string without its NUL"))?;
        self.at += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| err(start, "inline string is not UTF-8"))
    }
}

/// The NUL-terminated string at `offset` of the string table.
fn table_str(table: &[u8], offset: u32, at: usize) -> Result<&str, WbxmlError> {
    let rest = table
        .get(offset as usize..)
        .ok_or_else(|| err(at, format!("string table offset {offset} is past its end")))?;
    let n = rest
        .iter()
        .position(|&c| c == 0)
        .ok_or_else(|| err(at, "string table entry without its NUL"))?;
    std::str::from_utf8(&rest[..n]).map_err(|_| err(at, "string table entry is not UTF-8"))
}

/// Decodes a SyncML DM WBXML document to XML text (at most `max_bytes` of input).
pub fn wbxml_to_xml(bytes: &[u8], max_bytes: usize) -> Result<String, WbxmlError> {
    if bytes.len() > max_bytes {
        return Err(err(
            0,
            format!("{} bytes, the limit is {max_bytes}", bytes.len()),
        ));
    }
    let mut r = Input { b: bytes, at: 0 };
    let version = r.byte()?;
    if version > 0x03 {
        return Err(err(
            0,
            format!("version byte {version:#04x} is not WBXML 1.0–1.3"),
        ));
    }
    let public = r.mb_u32()?;
    if public == 0 {
        // The public id is a string-table reference: read (and ignore) its index.
        r.mb_u32()?;
    }
    if version >= 0x01 {
        let charset = r.mb_u32()?;
        if charset != UTF8 && charset != 0 {
            return Err(err(r.at, format!("charset {charset} is not UTF-8 (106)")));
        }
    }
    let table_len = r.mb_u32()? as usize;
    if table_len > bytes.len() - r.at {
        return Err(err(
            r.at,
            format!("string table of {table_len} bytes is longer than what is left"),
        ));
    }
    let table = &bytes[r.at..r.at + table_len];
    r.at += table_len;
    // The output never needs more than this: the longest expansion is a one-byte tag token
    // into `<MaxObjSize xmlns="syncml:metinf"></MaxObjSize>`.
    let max_out = bytes.len().saturating_mul(48).saturating_add(64);
    let mut out = String::with_capacity(bytes.len().saturating_mul(3).min(max_out));
    let mut page = 0u8;
    let mut open: Vec<(&str, u8)> = Vec::new();
    let mut seen_root = false;
    loop {
        if out.len() > max_out {
            return Err(err(r.at, "the document expands past its bound"));
        }
        if open.is_empty() && seen_root {
            if r.at != bytes.len() {
                return Err(err(r.at, "bytes after the root element"));
            }
            return Ok(out);
        }
        let at = r.at;
        let t = r.byte()?;
        match t {
            SWITCH_PAGE => {
                page = r.byte()?;
                if page > 1 {
                    return Err(err(
                        at,
                        format!("code page {page} is not SyncML (0) or MetInf (1)"),
                    ));
                }
            }
            END => {
                let (name, _) = open
                    .pop()
                    .ok_or_else(|| err(at, "END with no element open"))?;
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
            STR_I => {
                let s = r.cstr()?;
                text(&mut out, &open, s, at)?;
            }
            STR_T => {
                let off = r.mb_u32()?;
                let s = table_str(table, off, at)?;
                text(&mut out, &open, s, at)?;
            }
            ENTITY => {
                let c = r.mb_u32()?;
                let c = char::from_u32(c)
                    .ok_or_else(|| err(at, format!("entity {c} is no character")))?;
                let mut buf = [0u8; 4];
                text(&mut out, &open, c.encode_utf8(&mut buf), at)?;
            }
            OPAQUE => {
                let n = r.mb_u32()? as usize;
                if n > bytes.len() - r.at {
                    return Err(err(
                        at,
                        format!("opaque data of {n} bytes is longer than what is left"),
                    ));
                }
                let data = &bytes[r.at..r.at + n];
                r.at += n;
                let s = std::str::from_utf8(data)
                    .map_err(|_| err(at, "opaque data is not UTF-8 text"))?;
                text(&mut out, &open, s, at)?;
            }
            _ => {
                if t & 0x80 != 0 {
                    return Err(err(
                        at,
                        format!(
                            "token {t:#04x}: attributes, extensions and processing instructions are not read"
                        ),
                    ));
                }
                if t & 0x3F < 0x04 {
                    return Err(err(at, format!("token {t:#04x} is not read")));
                }
                let name = if t & 0x3F == LITERAL {
                    let off = r.mb_u32()?;
                    let n = table_str(table, off, at)?;
                    if n.is_empty()
                        || !n
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                    {
                        return Err(err(at, "a literal tag name that is not a plain name"));
                    }
                    n
                } else {
                    let i = usize::from(t & 0x3F) - 5;
                    let table: &[&str] = if page == 0 { &SYNCML } else { &METINF };
                    *table.get(i).ok_or_else(|| {
                        err(
                            at,
                            format!("tag token {:#04x} is not on code page {page}", t & 0x3F),
                        )
                    })?
                };
                if open.is_empty() && seen_root {
                    return Err(err(at, "a second root element"));
                }
                seen_root = true;
                out.push('<');
                out.push_str(name);
                let parent_page = open.last().map_or(0, |(_, p)| *p);
                if open.is_empty() && page == 0 {
                    out.push_str(" xmlns=\"SYNCML:SYNCML1.2\"");
                } else if page == 1 && parent_page != 1 {
                    out.push_str(" xmlns=\"syncml:metinf\"");
                }
                if t & 0x40 != 0 {
                    if open.len() >= MAX_DEPTH {
                        return Err(err(at, format!("elements nest deeper than {MAX_DEPTH}")));
                    }
                    out.push('>');
                    open.push((name, page));
                } else {
                    out.push_str("/>");
                    if open.is_empty() {
                        return if r.at == bytes.len() {
                            Ok(out)
                        } else {
                            Err(err(r.at, "bytes after the root element"))
                        };
                    }
                }
            }
        }
    }
}

fn text(out: &mut String, open: &[(&str, u8)], s: &str, at: usize) -> Result<(), WbxmlError> {
    if open.is_empty() {
        return Err(err(at, "text outside the root element"));
    }
    // XML 1.0 holds no other control character (nor NUL): refuse rather than write a
    // document no XML reader takes.
    if let Some(c) = s.chars().find(|&c| {
        c < ' ' && !matches!(c, '\t' | '\n' | '\r') || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    }) {
        return Err(err(
            at,
            format!("text holds U+{:04X}, which XML cannot hold", c as u32),
        ));
    }
    out.push_str(&escape(s));
    Ok(())
}

/// Encodes SyncML DM XML (devcare's messages and any DM message of the SyncML and MetInf
/// elements) as WBXML 1.3, UTF-8, public id `0x1201`. With `string_table`, text that repeats
/// is written once in the string table and referenced after. Attributes other than the
/// namespace declarations the code pages imply are refused, as are unknown elements.
pub fn xml_to_wbxml(xml: &str, string_table: bool) -> Result<Vec<u8>, WbxmlError> {
    let body = tokens(xml)?;
    // The string table: every text that occurs twice or more, once.
    let mut table: Vec<u8> = Vec::new();
    let mut offsets: HashMap<&str, u32> = HashMap::new();
    if string_table {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in &body {
            if let Token::Text(s) = t {
                *counts.entry(s.as_str()).or_default() += 1;
            }
        }
        for t in &body {
            if let Token::Text(s) = t
                && counts[s.as_str()] > 1
                && !offsets.contains_key(s.as_str())
            {
                offsets.insert(s.as_str(), table.len() as u32);
                table.extend_from_slice(s.as_bytes());
                table.push(0);
            }
        }
    }
    let mut out = vec![0x03];
    mb_u32(&mut out, PUBLIC_ID_DM_1_2);
    mb_u32(&mut out, UTF8);
    mb_u32(&mut out, table.len() as u32);
    out.extend_from_slice(&table);
    emit(&body, &offsets, &mut out)?;
    Ok(out)
}

/// Encodes a run of SyncML DM elements (e.g. the `<Status>` commands of a response) as a
/// WBXML body fragment, to splice into a WBXML message's `SyncBody` where the current code
/// page is SyncML's (0): no header, every string inline (no string-table references, so it
/// fits any message's table), and back on code page 0 at its end.
pub fn xml_to_wbxml_fragment(xml: &str) -> Result<Vec<u8>, WbxmlError> {
    let mut body = tokens(xml)?;
    let last_page = body.iter().rev().find_map(|t| match t {
        Token::Page(p) => Some(*p),
        _ => None,
    });
    if last_page.is_some_and(|p| p != 0) {
        body.push(Token::Page(0));
    }
    let mut out = Vec::new();
    emit(&body, &HashMap::new(), &mut out)?;
    Ok(out)
}

/// XML as WBXML tokens (code page switches from page 0).
fn tokens(xml: &str) -> Result<Vec<Token>, WbxmlError> {
    let mut body: Vec<Token> = Vec::new();
    let mut reader = Reader::from_str(xml);
    let mut page = 0u8;
    let mut pending: Option<usize> = None;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| err(0, format!("the XML does not read: {e}")))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let (p, tok) = tag_token(e.local_name().as_ref())?;
                check_attributes(e)?;
                end_text(&mut body, &mut pending);
                if p != page {
                    body.push(Token::Page(p));
                    page = p;
                }
                let content = if matches!(ev, Event::Start(_)) {
                    0x40
                } else {
                    0
                };
                body.push(Token::Tag(tok | content));
            }
            Event::End(_) => {
                end_text(&mut body, &mut pending);
                body.push(Token::End);
            }
            Event::Text(t) => {
                push_text(&mut body, &mut pending, &t.xml10_content());
            }
            Event::CData(t) => {
                push_text(&mut body, &mut pending, &t);
            }
            Event::GeneralRef(r) => {
                let s = match r
                    .resolve_char_ref()
                    .map_err(|e| err(0, format!("reference: {e}")))?
                {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| err(0, format!("unknown entity &{};", &*r)))?
                        .to_string(),
                };
                push_text(&mut body, &mut pending, &s);
            }
            Event::Eof => {
                end_text(&mut body, &mut pending);
                return Ok(body);
            }
            _ => {}
        }
    }
}

/// Writes `body`'s tokens, text found in `offsets` as string-table references.
fn emit(body: &[Token], offsets: &HashMap<&str, u32>, out: &mut Vec<u8>) -> Result<(), WbxmlError> {
    for t in body {
        match t {
            Token::Page(p) => out.extend_from_slice(&[SWITCH_PAGE, *p]),
            Token::Tag(t) => out.push(*t),
            Token::End => out.push(END),
            Token::Text(s) if s.as_bytes().contains(&0) => {
                return Err(err(0, "text with a NUL cannot be a WBXML string"));
            }
            Token::Text(s) => match offsets.get(s.as_str()) {
                Some(off) => {
                    out.push(STR_T);
                    mb_u32(out, *off);
                }
                None => {
                    out.push(STR_I);
                    out.extend_from_slice(s.as_bytes());
                    out.push(0);
                }
            },
        }
    }
    Ok(())
}

enum Token {
    Page(u8),
    Tag(u8),
    End,
    Text(String),
}

/// The text run before an element boundary ends: dropped when it is only whitespace (the
/// indentation between elements; DM text is read trimmed).
fn end_text(body: &mut Vec<Token>, pending: &mut Option<usize>) {
    if let Some(i) = pending.take()
        && matches!(body.get(i), Some(Token::Text(t)) if t.trim().is_empty())
    {
        body.truncate(i);
    }
}

/// Text joins the text right before it (quick-xml splits text at references).
fn push_text(body: &mut Vec<Token>, pending: &mut Option<usize>, s: &str) {
    match pending {
        Some(i) => {
            if let Some(Token::Text(t)) = body.get_mut(*i) {
                t.push_str(s);
            }
        }
        None => {
            *pending = Some(body.len());
            body.push(Token::Text(s.to_string()));
        }
    }
}

fn tag_token(name: &str) -> Result<(u8, u8), WbxmlError> {
    if let Some(i) = SYNCML.iter().position(|n| *n == name) {
        return Ok((0, i as u8 + 5));
    }
    if let Some(i) = METINF.iter().position(|n| *n == name) {
        return Ok((1, i as u8 + 5));
    }
    Err(err(0, format!("<{name}> is not a SyncML DM element")))
}

fn check_attributes(e: &quick_xml::events::BytesStart<'_>) -> Result<(), WbxmlError> {
    for a in e.attributes() {
        let a = a.map_err(|e| err(0, format!("attribute: {e}")))?;
        let key = a.key.as_ref();
        if key != "xmlns" && !key.starts_with("xmlns:") {
            return Err(err(
                0,
                format!(
                    "attribute {:?}: SyncML DM elements carry none",
                    crate::text::printable(key)
                ),
            ));
        }
    }
    Ok(())
}

fn mb_u32(out: &mut Vec<u8>, v: u32) {
    let mut groups = [0u8; 5];
    let mut n = 0;
    let mut v = v;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}
