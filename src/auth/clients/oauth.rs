//! The token endpoint (`POST /oauth/token`): an API client's secret, or a signed assertion, exchanged for a bearer token.

use super::*;

/// The one grant type `POST /oauth/token` supports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
}

/// The token request (RFC 6749 §4.4.2), form-encoded. `client_id` and `client_secret` may come
/// as HTTP Basic credentials instead.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(value_type = GrantType, required = true, example = "client_credentials")]
    pub grant_type: Option<String>,
    #[schema(example = "n2h_0193a0b27c1e7d3a9f002b8e4c1d5e6f")]
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated subset of the client's scopes; all of them when absent.
    #[schema(value_type = Option<crate::auth::scopes::ScopeList>)]
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    #[schema(example = 3600)]
    pub expires_in: i64,
    #[schema(example = "incidents:read feeds:read")]
    pub scope: String,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    #[schema(example = "invalid_client")]
    pub error: String,
    pub error_description: String,
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header(("Cache-Control", "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header(("WWW-Authenticate", "Basic realm=\"nis2hub\""));
    }
    res.json(OAuthError {
        error: error.into(),
        error_description: description.into(),
    })
}

/// HTTP Basic client authentication, RFC 6749 §2.3.1: the client id and secret are each
/// encoded with the `application/x-www-form-urlencoded` algorithm, then joined by `:` and
/// Base64-encoded (RFC 7617). Ids and secrets the service issues use no character that
/// encoding changes, so a client that skips it (Swagger UI does) authenticates as well.
pub(super) fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    // RFC 9110 §11.1: the scheme name is case-insensitive.
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let form_decode = |s: &str| -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
        pairs.into_iter().next().map(|(_, v)| v)
    };
    Some((form_decode(id)?, form_decode(secret)?))
}

/// OAuth 2.0 client-credentials grant: client id and secret (form fields or HTTP Basic) for
/// a bearer token.
///
/// RFC 6749 §4.4: `grant_type=client_credentials`, form-encoded. The client authenticates
/// with HTTP Basic (RFC 6749 §2.3.1, id and secret form-encoded before Base64) or with
/// `client_id` and `client_secret` in the body; a parameter sent without a value counts as
/// omitted (§3.2). `scope` asks for a subset of the client's scopes; without it the token
/// holds all of them. Public: the credentials are the authentication. A refused grant is an
/// RFC 6749 §5.2 error object, as OAuth clients expect.
#[utoipa::path(
    operation_id = "issueToken",
    tag = "clients",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "RFC 6749 error: invalid_request, unsupported_grant_type or invalid_scope", body = OAuthError),
        (status = 401, description = "RFC 6749 error: invalid_client", body = OAuthError),
        (status = 413, description = "The body is too large", body = Problem),
        (status = 429, description = "Too many token requests from this address or for this client_id; see Retry-After", body = Problem)
    )
)]
#[post("/oauth/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    // Every attempt costs an argon2 check: limit them per client address.
    let address = state.token_limits.address_of(&req);
    if let Some(ip) = address {
        if let Err(wait) = state.token_limits.check_address(ip) {
            return Err(AppError::TooManyRequests(wait));
        }
    }
    let address = address
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    let request_id = req
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let bytes = json::read_body(payload.into_inner(), 16 * 1024, None).await?;
    let form: TokenRequest = match serde_urlencoded::from_bytes::<TokenRequest>(&bytes) {
        // RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were
        // omitted from the request" (Swagger UI sends `scope=` when no scope is ticked).
        Ok(f) => TokenRequest {
            grant_type: f.grant_type.filter(|v| !v.is_empty()),
            client_id: f.client_id.filter(|v| !v.is_empty()),
            client_secret: f.client_secret.filter(|v| !v.is_empty()),
            scope: f.scope.filter(|v| !v.is_empty()),
        },
        Err(_) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send the request form-encoded",
            ))
        }
    };
    let has_nul = |f: &Option<String>| f.as_deref().is_some_and(|s| s.contains('\0'));
    if [
        &form.grant_type,
        &form.client_id,
        &form.client_secret,
        &form.scope,
    ]
    .into_iter()
    .any(has_nul)
    {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no field may contain the NUL character",
        ));
    }
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            ))
        }
        Some(_) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ))
        }
    }
    let (client_id, secret) = match (basic_credentials(&req), form.client_id, form.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Ok(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "send client_id and client_secret",
            ))
        }
    };
    let refuse = |reason: &str, client_id: Option<String>| {
        let mut r = refusals::Refused::anonymous(
            format!("token.refused.{reason}"),
            address.clone(),
            request_id.clone(),
        );
        r.client_id = client_id;
        r
    };
    let invalid_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    };
    if client_id.len() > 100 || secret.len() > 200 {
        refusals::record(&state, refuse("unknown_client", None)).await;
        return Ok(invalid_client());
    }
    // Per client as well: many addresses cannot guess one client's secret quickly.
    if let Err(wait) = state.token_limits.check_client(&client_id) {
        return Err(AppError::TooManyRequests(wait));
    }
    let pool = state.pool.clone();
    let checked = web::block(move || -> AppResult<Credentials> {
        let row = {
            let mut conn = pool.get()?;
            api_clients::table
                .filter(api_clients::client_id.eq(&client_id))
                .select(ClientRow::as_select())
                .first::<ClientRow>(&mut conn)
                .optional()?
        };
        let hash = row
            .as_ref()
            .map(|r| r.secret_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_string());
        let ok = PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        });
        Ok(match row {
            None => Credentials::UnknownClient,
            Some(r) if !ok => Credentials::WrongSecret(r.client_id),
            Some(r) if r.revoked_at.is_some() => Credentials::Revoked(r.client_id),
            Some(r) => Credentials::Valid(r),
        })
    })
    .await??;
    let client = match checked {
        Credentials::Valid(row) => row,
        Credentials::UnknownClient => {
            refusals::record(&state, refuse("unknown_client", None)).await;
            return Ok(invalid_client());
        }
        Credentials::WrongSecret(id) => {
            refusals::record(&state, refuse("wrong_secret", Some(id))).await;
            return Ok(invalid_client());
        }
        Credentials::Revoked(id) => {
            refusals::record(&state, refuse("revoked_client", Some(id))).await;
            return Ok(invalid_client());
        }
    };
    let role = Role::parse(&client.role)
        .ok_or_else(|| AppError::internal("stored client role is unknown"))?;
    let granted = parse_scopes(&client.scopes).unwrap_or_default();
    let scopes = match form.scope.as_deref() {
        None => granted,
        Some(requested) => match parse_scopes(requested) {
            Ok(s) if !s.is_empty() && s.iter().all(|x| granted.contains(x)) => s,
            _ => {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "ask only for scopes the client was granted",
                ))
            }
        },
    };
    let scope = join_scopes(&scopes);
    let ttl = state.keys.ttl_seconds;
    let access_token = state
        .keys
        .issue(
            &format!("client:{}", client.client_id),
            &client.org_id,
            role,
            &scope,
            ttl,
            Some(client.client_id.clone()),
        )
        .map_err(AppError::internal)?;
    // Every token issued is on record before it is handed out.
    state
        .write(move |conn| {
            let sub = format!("client:{}", client.client_id);
            let actor = audit::Actor {
                org: &client.org_id,
                sub: &sub,
                role: role.as_str(),
                client_id: Some(&client.client_id),
                request_id: &request_id,
            };
            audit::record_as(conn, &actor, "token.issue", "client", &client.id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope,
        }))
}

/// What the presented credentials turned out to be.
pub(super) enum Credentials {
    Valid(ClientRow),
    UnknownClient,
    WrongSecret(String),
    Revoked(String),
}
