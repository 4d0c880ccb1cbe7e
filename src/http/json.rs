//! JSON request bodies: content type, size limit, parsing with the path of the bad value, and
//! field validation, all reported as problem documents that point at the offending field.

use crate::error::{AppError, FieldError};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

/// A JSON body that parsed and passed its field rules.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

/// A JSON body as raw bytes plus its parsed value, for endpoints that need the exact bytes
/// (idempotency fingerprints) or a merge patch.
pub struct JsonBody {
    pub bytes: web::Bytes,
}

fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<crate::AppState>>()
        .map(|s| s.config.body_limit)
        .unwrap_or(262_144)
}

/// Accepts `application/json` and any `application/*+json` (such as merge-patch+json).
fn check_content_type(req: &HttpRequest) -> Result<(), AppError> {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else if essence.is_empty() {
        Err(AppError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ))
    } else {
        Err(AppError::UnsupportedMediaType(format!(
            "the body must be JSON (application/json), not `{essence}`"
        )))
    }
}

/// Reads the whole body, refusing it as soon as it passes the limit.
pub async fn read_body(
    mut payload: Payload,
    limit: usize,
    declared: Option<usize>,
) -> Result<web::Bytes, AppError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::bad_request(
                "unreadable_body",
                format!("the body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Parses a JSON merge patch (RFC 7396) for a `PATCH`: it must be an object of the fields to
/// change, each checked by the resource's own update.
pub fn parse_patch(bytes: &[u8]) -> Result<serde_json::Value, AppError> {
    let patch: serde_json::Value = parse(bytes)?;
    if patch.is_object() {
        Ok(patch)
    } else {
        Err(AppError::invalid(
            "",
            "send a JSON object with the fields to change",
        ))
    }
}

/// Parses JSON, turning serde's error into a problem that points at the bad value.
///
/// JSON Schema calls `5.0` an integer, so wherever the document says `integer` a number with
/// a zero fraction is taken as that integer (`"employees": 250.0` is 250).
///
/// serde stops at the first bad or missing field; every field error of the body is reported
/// at once instead (see [`parse_all`]).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    match parse_all(bytes)? {
        Parsed::Complete(value) => Ok(value),
        Parsed::Invalid { errors, .. } => Err(AppError::Validation(sorted(errors))),
    }
}

/// What [`parse_all`] found.
enum Parsed<T> {
    Complete(T),
    /// Field errors; with `filled`, the value parsed once every bad or missing field (each
    /// under one of `placeholders`) held a stand-in, so its own field rules can run too.
    Invalid {
        errors: Vec<FieldError>,
        filled: Option<T>,
        placeholders: Vec<String>,
    },
}

/// Stand-ins tried, in turn, for a missing or bad field until one has the field's type.
const STAND_INS: &[&str] = &[
    r#""""#,
    "0",
    "false",
    "[]",
    "{}",
    r#""1970-01-01T00:00:00Z""#,
    r#""00000000-0000-0000-0000-000000000000""#,
    r#""1970-01-01""#,
    r#""0.0.0.0/32""#,
    "null",
];

/// Parses JSON and, when fields are bad or missing, finds them all: serde stops at the first,
/// so each is recorded and given a stand-in value of the right type (an unknown field is
/// removed) and the body parsed again, until it parses or no stand-in fits. Errors under a
/// stand-in are not the client's and are left out. Bounded: a body with more problems than
/// this reports the first ones.
fn parse_all<T: DeserializeOwned>(bytes: &[u8]) -> Result<Parsed<T>, AppError> {
    refuse_nul(bytes)?;
    let first = match parse_exact(bytes) {
        Ok(v) => return Ok(Parsed::Complete(v)),
        Err(AppError::Validation(errors)) => errors,
        Err(other) => return Err(other),
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(AppError::Validation(first));
    };
    integral_floats_as_integers(&mut value);
    let mut errors: Vec<FieldError> = Vec::new();
    let mut placeholders: Vec<String> = Vec::new();
    // The slot being given a stand-in, and the next stand-in to try there.
    let mut trying: Option<(String, usize)> = None;
    for _ in 0..64 {
        let attempt = serde_json::to_vec(&value)?;
        let error = match parse_exact::<T>(&attempt) {
            Ok(v) if errors.is_empty() => return Ok(Parsed::Complete(v)),
            Ok(v) => {
                return Ok(Parsed::Invalid {
                    errors,
                    filled: Some(v),
                    placeholders,
                })
            }
            Err(AppError::Validation(mut e)) if !e.is_empty() => e.swap_remove(0),
            Err(other) if errors.is_empty() => return Err(other),
            Err(_) => break,
        };
        let at = error.pointer.clone();
        let stand_in_failed = trying.as_ref().is_some_and(|(slot, _)| *slot == at);
        if !stand_in_failed && !placeholders.iter().any(|p| is_under(&at, p)) {
            errors.push(error.clone());
        }
        if at.is_empty() {
            break; // the document itself has the wrong shape
        }
        if error.message.starts_with("unknown field `") {
            if !remove(&mut value, &at) {
                break;
            }
            trying = None;
            continue;
        }
        let next = match &trying {
            Some((slot, next)) if *slot == at => *next,
            _ => 0,
        };
        let stand_in = match expected_variant(&error.message) {
            Some(variant) => serde_json::Value::String(variant),
            None => match STAND_INS.get(next) {
                Some(s) => serde_json::from_str(s).expect("the stand-ins are JSON"),
                None => break,
            },
        };
        if !set(&mut value, &at, stand_in) {
            break;
        }
        if !placeholders.contains(&at) {
            placeholders.push(at.clone());
        }
        trying = Some((at, next + 1));
    }
    if errors.is_empty() {
        errors = first;
    }
    Ok(Parsed::Invalid {
        errors,
        filled: None,
        placeholders,
    })
}

/// `pointer` is `slot` or inside it.
fn is_under(pointer: &str, slot: &str) -> bool {
    pointer == slot
        || (pointer.starts_with(slot) && pointer.as_bytes().get(slot.len()) == Some(&b'/'))
}

/// The first variant an "unknown variant" error names as expected.
fn expected_variant(message: &str) -> Option<String> {
    if !message.starts_with("unknown variant") {
        return None;
    }
    let rest = message.split("expected").nth(1)?;
    let start = rest.find('`')? + 1;
    let len = rest[start..].find('`')?;
    Some(rest[start..start + len].to_string())
}

fn split_pointer(pointer: &str) -> Option<(&str, String)> {
    let (parent, last) = pointer.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

/// Sets the value at `pointer`, adding the member when its object lacks it.
fn set(value: &mut serde_json::Value, pointer: &str, new: serde_json::Value) -> bool {
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = new;
        return true;
    }
    let Some((parent, key)) = split_pointer(pointer) else {
        return false;
    };
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(o)) => {
            o.insert(key, new);
            true
        }
        _ => false,
    }
}

/// Removes the member at `pointer`.
fn remove(value: &mut serde_json::Value, pointer: &str) -> bool {
    let Some((parent, key)) = split_pointer(pointer) else {
        return false;
    };
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(o)) => o.remove(&key).is_some(),
        _ => false,
    }
}

fn sorted(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    errors.dedup_by(|a, b| a.pointer == b.pointer && a.message == b.message);
    errors
}

/// No string (nor key) may hold the NUL character `\u0000`: no text field holds it (PostgreSQL
/// cannot store it), and the document's string patterns exclude it.
fn refuse_nul(bytes: &[u8]) -> Result<(), AppError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    fn find(v: &serde_json::Value, at: &str) -> Option<String> {
        use serde_json::Value;
        match v {
            Value::String(s) if s.contains('\0') => Some(at.to_string()),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, x)| find(x, &format!("{at}/{i}"))),
            Value::Object(o) => o.iter().find_map(|(k, x)| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                if k.contains('\0') {
                    Some(here)
                } else {
                    find(x, &here)
                }
            }),
            _ => None,
        }
    }
    match find(&value, "") {
        Some(pointer) => Err(AppError::Validation(vec![FieldError::new(
            pointer,
            "may not contain the NUL character (\\u0000)",
        )])),
        None => Ok(()),
    }
}

fn integral_floats_as_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 {
                if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *v = Value::from(f as u64);
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(o) => o.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn parse_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // Anything after the document (a second document, stray text) is malformed too.
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(AppError::BadRequest {
                code: "malformed_json",
                detail: format!("the body is not valid JSON: {e}"),
                errors: vec![],
            }),
        },
        Err(err) => {
            let pointer = pointer_of(err.path());
            let inner = err.into_inner();
            use serde_json::error::Category;
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => Err(AppError::BadRequest {
                    code: "malformed_json",
                    detail: format!("the body is not valid JSON: {inner}"),
                    errors: vec![],
                }),
                Category::Data => {
                    let message = inner.to_string();
                    let message = message
                        .split(" at line ")
                        .next()
                        .unwrap_or(&message)
                        .to_string();
                    // serde names a missing field in its message; point at the field itself.
                    let pointer = match message
                        .strip_prefix("missing field `")
                        .and_then(|m| m.strip_suffix('`'))
                    {
                        Some(field) => format!("{pointer}/{field}"),
                        None => pointer,
                    };
                    Err(AppError::Validation(vec![FieldError::new(
                        pointer, message,
                    )]))
                }
            }
        }
    }
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push_str(&format!("/{}", key.replace('~', "~0").replace('/', "~1")))
            }
            Segment::Enum { variant } => out.push_str(&format!("/{variant}")),
            Segment::Unknown => {}
        }
    }
    out
}

/// Flattens validator's nested errors into JSON pointers and messages.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let here = format!("{prefix}/{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe(e));
                    out.push(FieldError::new(here.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &here, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{here}/{i}"), out);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    let p = |k: &str| e.params.get(k).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            _ => "has the wrong length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be an e-mail address".into(),
        "url" => "must be a URL".into(),
        other => format!("is not valid ({other})"),
    }
}

/// Parses and validates a body in one step. Missing and badly typed fields are reported
/// together with the field rules' errors on the rest of the body.
pub fn parse_valid<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, AppError> {
    match parse_all::<T>(bytes)? {
        Parsed::Complete(value) => {
            value
                .validate()
                .map_err(|e| AppError::Validation(field_errors(&e)))?;
            Ok(value)
        }
        Parsed::Invalid {
            mut errors,
            filled,
            placeholders,
        } => {
            if let Some(Err(e)) = filled.map(|v| v.validate()) {
                errors.extend(
                    field_errors(&e)
                        .into_iter()
                        .filter(|f| !placeholders.iter().any(|p| is_under(&f.pointer, p))),
                );
            }
            Err(AppError::Validation(sorted(errors)))
        }
    }
}

/// The body of a JSON request, within the body limit; `Content-Type` must say JSON, except,
/// when `may_be_empty`, for an empty body (a request without a body has none to declare).
fn json_body(
    req: &HttpRequest,
    payload: &mut Payload,
    may_be_empty: bool,
) -> LocalBoxFuture<'static, Result<web::Bytes, AppError>> {
    let checked = check_content_type(req);
    let limit = body_limit(req);
    let declared = declared_length(req);
    let payload = payload.take();
    Box::pin(async move {
        // A required body is refused for its type before it is read.
        let deferred = if may_be_empty {
            Some(checked)
        } else {
            checked?;
            None
        };
        let bytes = read_body(payload, limit, declared).await?;
        if let Some(checked) = deferred.filter(|_| !bytes.is_empty()) {
            checked?;
        }
        Ok(bytes)
    })
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body(req, payload, false);
        Box::pin(async move { parse_valid(&body.await?).map(ValidJson) })
    }
}

impl FromRequest for JsonBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body(req, payload, false);
        Box::pin(async move { Ok(JsonBody { bytes: body.await? }) })
    }
}

/// A JSON body that may be left out: an empty body needs no `Content-Type` (a request without
/// a body has none to declare); a body that is there must be JSON, as for [`JsonBody`].
pub struct OptionalJsonBody {
    pub bytes: web::Bytes,
}

impl FromRequest for OptionalJsonBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body(req, payload, true);
        Box::pin(async move { Ok(OptionalJsonBody { bytes: body.await? }) })
    }
}

/// Applies a merge patch to the stored document of a `T`, refusing (422 naming the field)
/// a key that `T` does not have even where the patch only removes it (`{"x": null}`): the
/// merged document cannot show such a key, so without this the patch would be answered as
/// an accepted change that changed nothing. Keys that are set are checked by parsing the
/// merged document, as before.
pub fn merge_patch_as<T: DeserializeOwned>(
    target: &mut serde_json::Value,
    patch: &serde_json::Value,
) -> Result<(), AppError> {
    /// `probe` with a `null` wherever the patch removes a key `probe` does not hold.
    fn removals(probe: &mut serde_json::Value, patch: &serde_json::Value) {
        let (Some(t), Some(p)) = (probe.as_object_mut(), patch.as_object()) else {
            return;
        };
        for (k, v) in p {
            match t.get_mut(k) {
                None if v.is_null() => {
                    t.insert(k.clone(), serde_json::Value::Null);
                }
                Some(inner) if v.is_object() => removals(inner, v),
                _ => {}
            }
        }
    }
    let mut probe = target.clone();
    removals(&mut probe, patch);
    if probe != *target {
        let mut unknown = Vec::new();
        for _ in 0..64 {
            let bytes = serde_json::to_vec(&probe)?;
            match parse_exact::<T>(&bytes) {
                Err(AppError::Validation(errors)) => {
                    let Some(e) = errors
                        .into_iter()
                        .find(|e| e.message.starts_with("unknown field `"))
                    else {
                        break;
                    };
                    let removed = remove(&mut probe, &e.pointer);
                    unknown.push(e);
                    if !removed {
                        break;
                    }
                }
                _ => break,
            }
        }
        if !unknown.is_empty() {
            return Err(AppError::Validation(unknown));
        }
    }
    merge_patch(target, patch);
    Ok(())
}

/// Applies an RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        n: u32,
    }

    #[test]
    fn errors_point_at_the_bad_value() {
        let err = parse::<Doc>(br#"{"name":"x","items":[{"n":1},{"n":"two"}]}"#).unwrap_err();
        match err {
            AppError::Validation(e) => assert_eq!(e[0].pointer, "/items/1/n"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        assert_eq!(
            parse::<Doc>(b"{\"name\":").unwrap_err().code(),
            "malformed_json"
        );
        assert_eq!(
            parse::<Doc>(br#"{"name":"x","items":[],"extra":1}"#)
                .unwrap_err()
                .code(),
            "validation_failed"
        );
    }

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Form {
        #[validate(length(min = 1))]
        name: String,
        kind: Kind,
        count: u32,
        #[validate(nested)]
        inner: Inner,
        #[validate(length(max = 1))]
        #[serde(default)]
        tags: Vec<String>,
    }
    #[derive(Debug, Deserialize, Validate)]
    #[allow(dead_code)]
    struct Inner {
        #[validate(email)]
        email: String,
        at: chrono::DateTime<chrono::Utc>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        First,
        Second,
    }

    fn pointers_of(body: &str) -> Vec<String> {
        match parse_valid::<Form>(body.as_bytes()).unwrap_err() {
            AppError::Validation(e) => e.into_iter().map(|f| f.pointer).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_missing_field_is_reported_with_the_other_errors() {
        assert_eq!(
            pointers_of(r#"{"tags": ["a", "b"]}"#),
            vec!["/count", "/inner", "/kind", "/name", "/tags"]
        );
        assert_eq!(
            pointers_of(r#"{"count": "many", "extra": 1, "inner": {"email": "nope"}, "tags": []}"#),
            vec![
                "/count",
                "/extra",
                "/inner/at",
                "/inner/email",
                "/kind",
                "/name"
            ]
        );
        assert_eq!(
            pointers_of(
                r#"{"name": "", "kind": "third", "count": 2.0, "inner": {"email": "a@b.example", "at": "2026-01-01T00:00:00Z"}}"#
            ),
            vec!["/kind", "/name"]
        );
        assert!(parse_valid::<Form>(
            br#"{"name": "x", "kind": "second", "count": 2.0, "inner": {"email": "a@b.example", "at": "2026-01-01T00:00:00Z"}}"#
        )
        .is_ok());
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = serde_json::json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &serde_json::json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, serde_json::json!({"a": "z", "c": {"d": "e"}}));
    }
}
