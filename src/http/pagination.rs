//! Keyset pagination: `?limit=&cursor=` → `{ items, next_cursor }` and a `Link: rel="next"`.
//!
//! The cursor is the opaque, URL-safe encoding of the last key returned; the next page asks for
//! keys after it, so pages stay fast and stable however deep a client reads.

use crate::error::AppError;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The pattern of a cursor over records keyed by id: 16 bytes (a UUID), base64url without
/// padding. Every string that matches names a position, so every one is accepted.
pub const ID_CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{21}[AQgw]$";
/// The pattern of a cursor over records keyed by a sequence number: 8 bytes, base64url
/// without padding.
pub const SEQ_CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$";

/// `?limit=&cursor=` of a list ordered by id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// `?limit=&cursor=` of a list ordered by a sequence number (versions, decisions).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeqPageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$")]
    pub cursor: Option<String>,
}

/// What a list is ordered by, which decides the shape of its cursors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By id (a UUID): cursors of 22 characters.
    Id,
    /// By a sequence number: cursors of 11 characters.
    Seq,
}

/// A validated page request: fetch `limit + 1` keys after `after` to know whether more follow.
/// `after` is a hyphenated lower-case UUID or a decimal number, as the list's order says.
#[derive(Debug, Clone)]
pub struct PageParams {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageQuery {
    /// A page of a list ordered by id.
    pub fn params(limit: Option<i64>, cursor: Option<&str>) -> Result<PageParams, AppError> {
        page_params(Order::Id, limit, cursor)
    }

    pub fn validate(&self) -> Result<PageParams, AppError> {
        Self::params(self.limit, self.cursor.as_deref())
    }
}

impl SeqPageQuery {
    pub fn validate(&self) -> Result<PageParams, AppError> {
        page_params(Order::Seq, self.limit, self.cursor.as_deref())
    }
}

/// Checks `limit` and decodes `cursor` for a list of the given order.
pub fn page_params(
    order: Order,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<PageParams, AppError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = cursor.map(|c| decode_cursor(order, c)).transpose()?;
    Ok(PageParams { limit, after })
}

/// The cursor that continues after `key`: a UUID becomes its 16 bytes, a sequence number its
/// 8 bytes (big-endian), base64url without padding.
pub fn encode_cursor(key: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if let Ok(id) = uuid::Uuid::parse_str(key) {
        engine.encode(id.as_bytes())
    } else if let Ok(n) = key.parse::<i64>() {
        engine.encode(n.to_be_bytes())
    } else {
        engine.encode(key)
    }
}

/// Decodes a cursor; accepts exactly the strings [`ID_CURSOR_PATTERN`] or
/// [`SEQ_CURSOR_PATTERN`] match.
fn decode_cursor(order: Order, cursor: &str) -> Result<String, AppError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok();
    let key = match (order, bytes) {
        (Order::Id, Some(b)) if cursor.len() == 22 => uuid::Uuid::from_slice(&b)
            .ok()
            .map(|u| u.hyphenated().to_string()),
        (Order::Seq, Some(b)) if cursor.len() == 11 => <[u8; 8]>::try_from(b.as_slice())
            .ok()
            .map(|b| i64::from_be_bytes(b).to_string()),
        _ => None,
    };
    key.ok_or_else(|| {
        AppError::bad_request(
            "invalid_cursor",
            "the cursor is not one this service issued; start again without it",
        )
    })
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Cuts the `limit + 1` rows fetched down to a page and works out the cursor.
pub fn paginate<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(&key(r)))
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// Renders a page with a `Link: <…>; rel="next"` header that repeats the request's filters.
pub fn respond<T: Serialize>(req: &HttpRequest, page: Page<T>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if let Some(cursor) = &page.next_cursor {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
                .unwrap_or_default();
        pairs.retain(|(k, _)| k != "cursor");
        pairs.push(("cursor".into(), cursor.clone()));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        res.insert_header(("Link", format!("<{}?{}>; rel=\"next\"", req.path(), query)));
    }
    res.json(page)
}

/// Loads a page with `load` (which fetches `limit + 1` rows) and answers with it.
pub async fn load<T, Fut>(
    req: &HttpRequest,
    page: PageParams,
    load: impl FnOnce(PageParams) -> Fut,
    key: impl Fn(&T) -> String,
) -> Result<HttpResponse, AppError>
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<Vec<T>, AppError>>,
{
    let limit = page.limit;
    let rows = load(page).await?;
    Ok(respond(req, paginate(rows, limit, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_knows_whether_more_follow() {
        let page = paginate(vec!["a", "b", "c"], 2, |s| s.to_string());
        assert_eq!(page.items, vec!["a", "b"]);
        assert!(page.next_cursor.is_some());
        assert!(paginate(vec!["a", "b"], 2, |s| s.to_string())
            .next_cursor
            .is_none());
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        assert!(PageQuery::params(Some(0), None).is_err());
        assert!(PageQuery::params(Some(201), None).is_err());
        assert!(PageQuery::params(None, Some("%%%")).is_err());
        assert!(PageQuery::params(None, Some("")).is_err());
        assert_eq!(PageQuery::params(None, None).unwrap().limit, DEFAULT_LIMIT);
    }

    fn matches(pattern: &str, s: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(s)
    }

    /// The document's cursor patterns say exactly which cursors the service takes: every string
    /// that matches decodes, and strings that differ in one character either way are refused.
    #[test]
    fn cursor_patterns_match_exactly_what_decodes() {
        let id = "01a232eb-7312-706f-a749-ca7afc0c998a";
        let c = encode_cursor(id);
        assert!(matches(ID_CURSOR_PATTERN, &c), "{c}");
        assert_eq!(decode_cursor(Order::Id, &c).unwrap(), id);
        for n in ["0", "1", "42", "9223372036854775807"] {
            let c = encode_cursor(n);
            assert!(matches(SEQ_CURSOR_PATTERN, &c), "{c}");
            assert_eq!(decode_cursor(Order::Seq, &c).unwrap(), n);
        }
        let alphabet: Vec<char> = ('A'..='Z')
            .chain('a'..='z')
            .chain('0'..='9')
            .chain(['-', '_', '+', '/', '=', '.', '%'])
            .collect();
        for (order, pattern, len) in [
            (Order::Id, ID_CURSOR_PATTERN, 22),
            (Order::Seq, SEQ_CURSOR_PATTERN, 11),
        ] {
            for last in &alphabet {
                for l in [len - 1, len, len + 1] {
                    let s = format!("{}{last}", "A".repeat(l - 1));
                    assert_eq!(
                        matches(pattern, &s),
                        decode_cursor(order, &s).is_ok(),
                        "{s} for {order:?}"
                    );
                }
            }
        }
        assert!(decode_cursor(Order::Seq, &encode_cursor(id)).is_err());
        assert!(decode_cursor(Order::Id, &encode_cursor("7")).is_err());
    }
}
