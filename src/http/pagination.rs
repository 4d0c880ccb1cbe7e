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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request: fetch `limit + 1` keys after `after` to know whether more follow.
#[derive(Debug, Clone)]
pub struct PageParams {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageQuery {
    pub fn params(limit: Option<i64>, cursor: Option<&str>) -> Result<PageParams, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::bad_request(
                "invalid_query",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(PageParams { limit, after })
    }

    pub fn validate(&self) -> Result<PageParams, AppError> {
        Self::params(self.limit, self.cursor.as_deref())
    }
}

pub fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| {
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
        assert_eq!(
            decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap(),
            "b"
        );
        assert!(paginate(vec!["a", "b"], 2, |s| s.to_string())
            .next_cursor
            .is_none());
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        assert!(PageQuery::params(Some(0), None).is_err());
        assert!(PageQuery::params(Some(201), None).is_err());
        assert!(PageQuery::params(None, Some("%%%")).is_err());
        assert_eq!(PageQuery::params(None, None).unwrap().limit, DEFAULT_LIMIT);
    }
}
