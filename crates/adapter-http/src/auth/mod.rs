//! Authentication: AK/SK signatures as the Huawei SDKs send them, and tokens.
//!
//! [`authenticate`] runs before every `/v1` handler: it buffers the body
//! (the signature covers it), checks exactly one credential, checks that it
//! is granted the path's project, and hands the handler a [`Caller`].

pub mod signature;
pub mod token;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use vodsnap_domain::ProjectId;
use vodsnap_ports::TokenError;

use crate::error::{ApiError, code};
use crate::state::AppState;

pub use signature::{Authorization, SignatureError, SignedRequest};
pub use token::HmacTokenAuthority;

const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
const X_PROJECT_ID: HeaderName = HeaderName::from_static("x-project-id");

/// Who is calling, for which project. Handlers only ever see a project the
/// caller is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub project: ProjectId,
    pub principal: Principal,
    /// The peer's address, when the server knows it.
    pub client: Option<String>,
}

impl Caller {
    /// The audit trail's actor for this call.
    pub fn actor(&self, request_id: &crate::RequestId) -> vodsnap_ports::Actor {
        vodsnap_ports::Actor {
            principal: match &self.principal {
                Principal::AccessKey(ak) => format!("ak:{ak}"),
                Principal::Token { subject } => format!("token:{subject}"),
            },
            request_id: request_id.as_str().to_owned(),
            client: self.client.clone(),
        }
    }
}

/// The credential a call was authenticated with; never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    AccessKey(String),
    Token { subject: String },
}

/// Why authentication failed, as a label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    NoCredentials,
    BothCredentials,
    MalformedAuthorization,
    Date,
    UnknownAccessKeyOrSignature,
    TokenInvalid,
    TokenExpired,
}

impl AuthFailure {
    pub fn label(self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::BothCredentials => "both_credentials",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::Date => "date",
            Self::UnknownAccessKeyOrSignature => "signature",
            Self::TokenInvalid => "token_invalid",
            Self::TokenExpired => "token_expired",
        }
    }
}

fn unauthenticated(reason: AuthFailure, message: &str) -> ApiError {
    tracing::info!(reason = reason.label(), "authentication failed");
    metrics::counter!("vodsnap_auth_failures_total", "reason" => reason.label()).increment(1);
    let code = if reason == AuthFailure::TokenExpired {
        code::TOKEN_EXPIRED
    } else {
        code::UNAUTHENTICATED
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The middleware in front of every `/v1` route.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match admit(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn admit(state: &AppState, request: Request) -> Result<Request, ApiError> {
    check_sizes(state, &request)?;
    let (mut parts, body) = request.into_parts();
    let body = read_body(body, state.settings.max_body_bytes).await?;

    let principal_and_grant = match (
        parts.headers.get(header::AUTHORIZATION),
        parts.headers.get(&X_AUTH_TOKEN),
    ) {
        (None, None) => Err(unauthenticated(
            AuthFailure::NoCredentials,
            "no credentials: sign the request with AK/SK (Authorization, X-Sdk-Date) or send X-Auth-Token",
        )),
        (Some(_), Some(_)) => Err(unauthenticated(
            AuthFailure::BothCredentials,
            "send either an AK/SK signature or X-Auth-Token, not both",
        )),
        (Some(authorization), None) => {
            let signed = SignedRequest {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
            };
            by_signature(state, authorization.as_bytes(), &signed).await
        }
        (None, Some(token)) => by_token(state, token.as_bytes()),
    };
    let (principal, grant) = principal_and_grant?;

    let project = path_project(parts.uri.path())?;
    if let Some(header_project) = parts.headers.get(&X_PROJECT_ID)
        && header_project.as_bytes() != project.as_str().as_bytes()
    {
        return Err(ApiError::forbidden(
            "the X-Project-Id header names another project than the path",
        ));
    }
    if !grant.allows(&project) {
        metrics::counter!("vodsnap_auth_failures_total", "reason" => "not_granted").increment(1);
        return Err(ApiError::forbidden(format!(
            "these credentials are not granted project '{project}'"
        )));
    }
    if let Some(limit) = &state.rate_limit
        && let Err(wait) = limit.check(&project)
    {
        metrics::counter!("vodsnap_rate_limited_total").increment(1);
        return Err(ApiError::rate_limited(wait));
    }
    tracing::debug!(principal = ?principal, "authenticated");
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.to_string());
    parts.extensions.insert(Caller {
        project,
        principal,
        client,
    });
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// What a credential may access.
enum Grant {
    Projects(Vec<ProjectId>),
    Project(ProjectId),
}

impl Grant {
    fn allows(&self, project: &ProjectId) -> bool {
        match self {
            Self::Projects(all) => all.contains(project),
            Self::Project(one) => one == project,
        }
    }
}

async fn by_signature(
    state: &AppState,
    authorization: &[u8],
    request: &SignedRequest<'_>,
) -> Result<(Principal, Grant), ApiError> {
    let malformed = || {
        unauthenticated(
            AuthFailure::MalformedAuthorization,
            "the Authorization header is malformed: expected 'SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=...'",
        )
    };
    let authorization = std::str::from_utf8(authorization).map_err(|_| malformed())?;
    let authorization = Authorization::parse(authorization).map_err(|e| {
        unauthenticated(
            AuthFailure::MalformedAuthorization,
            &format!("the Authorization header is malformed: {e}"),
        )
    })?;
    let credential = state
        .credentials
        .find(authorization.access_key())
        .await
        .map_err(|e| match e {
            vodsnap_ports::CredentialError::Unavailable(e) => {
                ApiError::dependency_down("the credential store", &e)
            }
            vodsnap_ports::CredentialError::Unknown(e) => ApiError::internal(&e),
        })?;
    let mismatch = || {
        unauthenticated(
            AuthFailure::UnknownAccessKeyOrSignature,
            "incorrect AK/SK authentication: the access key is unknown or the signature does not match",
        )
    };
    let Some(credential) = credential else {
        return Err(mismatch());
    };
    signature::verify(
        request,
        &authorization,
        credential.secret_key().expose(),
        state.clock.now(),
    )
    .map_err(|e| match e {
        SignatureError::Mismatch => mismatch(),
        SignatureError::MissingDate
        | SignatureError::DateNotSigned
        | SignatureError::BadDate
        | SignatureError::DateOutOfWindow => unauthenticated(AuthFailure::Date, &e.to_string()),
        other => unauthenticated(AuthFailure::MalformedAuthorization, &other.to_string()),
    })?;
    Ok((
        Principal::AccessKey(credential.access_key().to_owned()),
        Grant::Projects(credential.projects().to_vec()),
    ))
}

fn by_token(state: &AppState, token: &[u8]) -> Result<(Principal, Grant), ApiError> {
    let invalid = || unauthenticated(AuthFailure::TokenInvalid, "the X-Auth-Token is not valid");
    let token = std::str::from_utf8(token).map_err(|_| invalid())?;
    let claims = state
        .tokens
        .verify(token.trim(), state.clock.now())
        .map_err(|e| match e {
            TokenError::Expired => {
                unauthenticated(AuthFailure::TokenExpired, "the X-Auth-Token has expired")
            }
            TokenError::Malformed | TokenError::BadSignature => invalid(),
        })?;
    Ok((
        Principal::Token {
            subject: claims.subject,
        },
        Grant::Project(claims.project),
    ))
}

/// The `{project_id}` of `/v1/{project_id}/...`, decoded and validated.
fn path_project(path: &str) -> Result<ProjectId, ApiError> {
    let raw = path.split('/').nth(2).unwrap_or_default();
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_parameter("project_id is not valid UTF-8"))?;
    ProjectId::parse(&decoded).map_err(|e| ApiError::bad_parameter(e.to_string()))
}

fn check_sizes(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let settings = &state.settings;
    if request.uri().query().map_or(0, str::len) > settings.max_query_bytes {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            code::QUERY_TOO_LONG,
            format!(
                "the query string is longer than {} bytes",
                settings.max_query_bytes
            ),
        ));
    }
    if header_bytes(request.headers()) > settings.max_header_bytes {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            code::HEADERS_TOO_LARGE,
            format!(
                "the request headers exceed {} bytes",
                settings.max_header_bytes
            ),
        ));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > settings.max_body_bytes as u64) {
        return Err(body_too_large(settings.max_body_bytes));
    }
    Ok(())
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

fn body_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::BODY_TOO_LARGE,
        format!("the request body is larger than {limit} bytes"),
    )
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            body_too_large(limit)
        } else {
            ApiError::bad_parameter("the request body could not be read")
        }
    })
}
