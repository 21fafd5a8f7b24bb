//! Authentication: AK/SK signatures as the Huawei SDKs send them, and tokens.
//!
//! [`authenticate`] runs before every `/v1` handler: it checks exactly one
//! credential and that it is granted the path's project as far as the
//! headers allow, then buffers the body within its bounds (the signature
//! covers it), verifies the signature, and hands the handler a [`Caller`].

pub mod token;

/// AK/SK signatures (`SDK-HMAC-SHA256`) live in their own crate, so that
/// Rust clients (the load generator, other services) sign with the very
/// code that verifies; re-exported here under its old path.
pub use vodsnap_sdk_signature as signature;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use vodsnap_domain::ProjectId;
use vodsnap_ports::TokenError;

use crate::body::{BodyBudget, Held, NO_BODY_LIMIT};
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

pub(crate) fn unauthenticated(reason: AuthFailure, message: &str) -> ApiError {
    tracing::info!(reason = reason.label(), "authentication failed");
    metrics::counter!("vodsnap_auth_failures_total", "reason" => reason.label()).increment(1);
    let code = if reason == AuthFailure::TokenExpired {
        code::TOKEN_EXPIRED
    } else {
        code::UNAUTHENTICATED
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// What the authentication middleware works with: the ports and settings,
/// and the memory budget of request bodies that every request shares.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub(crate) app: AppState,
    pub(crate) budget: BodyBudget,
}

/// The middleware in front of every `/v1` route. The request's body stays
/// counted against the budget until the handler has answered.
pub(crate) async fn authenticate(
    State(gate): State<Gate>,
    request: Request,
    next: Next,
) -> Response {
    let has_body = carries_body(request.headers());
    match admit(&gate, request).await {
        Ok((request, held)) => {
            let response = next.run(request).await;
            drop(held);
            response
        }
        Err(error) => {
            let mut response = error.into_response();
            if has_body {
                // Refused before its body was read (or while reading it):
                // the rest of the body may still be on the wire, so the
                // connection cannot carry another request. Say so, rather
                // than let a keep-alive client send its next request on a
                // connection the server then closes (RFC 9112, 9.6).
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            response
        }
    }
}

/// Whether a request says it has a body: a non-zero `Content-Length`, or
/// any `Transfer-Encoding`.
fn carries_body(headers: &axum::http::HeaderMap) -> bool {
    if headers.contains_key(axum::http::header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.to_str().map_or(true, |v| v.trim() != "0"))
}

/// A credential that the headers alone could check; a signature still
/// needs the body.
enum Checked {
    /// A valid token, and the one project it is for.
    Token(Principal, ProjectId),
    Signature {
        authorization: Authorization,
        credential: vodsnap_ports::Credential,
    },
}

/// Everything the headers allow is checked before a byte of the body is
/// read (a token entirely; an AK/SK's access key, date window and
/// project), so a stranger costs the server no body; then the body is read
/// within its bounds, and a signature checked over it.
async fn admit(gate: &Gate, request: Request) -> Result<(Request, Held), ApiError> {
    let state = &gate.app;
    let limit = body_limit(state, request.method());
    check_sizes(state, &request, limit)?;
    let (mut parts, body) = request.into_parts();

    let checked = match (
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
            by_access_key(state, authorization.as_bytes(), &parts.headers).await
        }
        (None, Some(token)) => by_token(state, token.as_bytes())
            .map(|(principal, project)| Checked::Token(principal, project)),
    }?;

    // The path's project and the X-Project-Id header are checked before a
    // body is read, but after the signature when there is no body to wait
    // for, so that bad credentials win over bad parameters and a tampered
    // signed header is a 401, as before.
    let declared = crate::body::declared_length(&parts.headers);
    let no_body = declared == Some(0)
        || (declared.is_none() && !parts.headers.contains_key(header::TRANSFER_ENCODING));
    let late_check = no_body && matches!(checked, Checked::Signature { .. });
    let early = if late_check {
        None
    } else {
        let (project, granted) = project_of(&parts, &checked)?;
        if !granted {
            // Refused before the body: someone who knows an AK learns whether
            // it is granted the project, which is not a secret worth a body.
            return Err(not_granted(&project));
        }
        Some(project)
    };

    // Worked out now, answered only once the signature is verified.
    let late = late_check.then(|| project_of(&parts, &checked));
    let (body, held) = crate::body::read(body, declared, limit, &gate.budget).await?;

    let principal = match checked {
        Checked::Token(principal, _) => principal,
        Checked::Signature {
            authorization,
            credential,
        } => {
            let signed = SignedRequest {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
            };
            verify_signature(state, &signed, &authorization, &credential)?;
            Principal::AccessKey(credential.access_key().to_owned())
        }
    };
    let project = match (early, late) {
        (Some(project), _) => project,
        (None, Some(late)) => {
            let (project, granted) = late?;
            if !granted {
                return Err(not_granted(&project));
            }
            project
        }
        (None, None) => {
            return Err(ApiError::internal(&anyhow::anyhow!(
                "the project was checked neither before nor after the signature"
            )));
        }
    };
    if let Some(limit) = &state.rate_limit
        && let Err(wait) = limit.check(&project)
    {
        metrics::counter!("vodsnap_rate_limited_total").increment(1);
        return Err(ApiError::rate_limited(wait));
    }
    tracing::debug!(principal = ?principal, "authenticated");
    // The request's span (`request_id::assign`) names the project.
    tracing::Span::current().record("project", project.as_str());
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.to_string());
    parts.extensions.insert(Caller {
        project,
        principal,
        client,
    });
    Ok((Request::from_parts(parts, Body::from(body)), held))
}

/// The path's project, whether `X-Project-Id` (if sent) agrees with it, and
/// whether the credential is granted it.
fn project_of(
    parts: &axum::http::request::Parts,
    checked: &Checked,
) -> Result<(ProjectId, bool), ApiError> {
    let project = path_project(parts.uri.path())?;
    if let Some(header_project) = parts.headers.get(&X_PROJECT_ID)
        && header_project.as_bytes() != project.as_str().as_bytes()
    {
        return Err(ApiError::forbidden(
            "the X-Project-Id header names another project than the path",
        ));
    }
    let granted = match checked {
        Checked::Token(_, granted) => *granted == project,
        Checked::Signature { credential, .. } => credential.projects().contains(&project),
    };
    Ok((project, granted))
}

fn not_granted(project: &ProjectId) -> ApiError {
    metrics::counter!("vodsnap_auth_failures_total", "reason" => "not_granted").increment(1);
    ApiError::forbidden(format!(
        "these credentials are not granted project '{project}'"
    ))
}

/// The largest body a request of `method` may send: the API's only body
/// is a registration's.
fn body_limit(state: &AppState, method: &Method) -> usize {
    if *method == Method::POST {
        state.settings.max_body_bytes
    } else {
        NO_BODY_LIMIT.min(state.settings.max_body_bytes)
    }
}

fn mismatch() -> ApiError {
    unauthenticated(
        AuthFailure::UnknownAccessKeyOrSignature,
        "incorrect AK/SK authentication: the access key is unknown or the signature does not match",
    )
}

fn signature_failure(e: &SignatureError) -> ApiError {
    match e {
        SignatureError::Mismatch => mismatch(),
        SignatureError::MissingDate
        | SignatureError::DateNotSigned
        | SignatureError::BadDate
        | SignatureError::DateOutOfWindow => unauthenticated(AuthFailure::Date, &e.to_string()),
        other => unauthenticated(AuthFailure::MalformedAuthorization, &other.to_string()),
    }
}

/// What an AK/SK request's headers prove: the Authorization header parses,
/// its access key exists, and `X-Sdk-Date` is signed and in the window.
async fn by_access_key(
    state: &AppState,
    authorization: &[u8],
    headers: &HeaderMap,
) -> Result<Checked, ApiError> {
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
    let credential = state.credentials.find(authorization.access_key()).await?;
    let Some(credential) = credential else {
        return Err(mismatch());
    };
    signature::check_date(headers, &authorization, state.clock.now().as_secs())
        .map_err(|e| signature_failure(&e))?;
    Ok(Checked::Signature {
        authorization,
        credential,
    })
}

fn verify_signature(
    state: &AppState,
    request: &SignedRequest<'_>,
    authorization: &Authorization,
    credential: &vodsnap_ports::Credential,
) -> Result<(), ApiError> {
    signature::verify(
        request,
        authorization,
        credential.secret_key().expose(),
        state.clock.now().as_secs(),
    )
    .map_err(|e| signature_failure(&e))
}

fn by_token(state: &AppState, token: &[u8]) -> Result<(Principal, ProjectId), ApiError> {
    let token = std::str::from_utf8(token).map_err(|_| TokenError::Malformed)?;
    let claims = state.tokens.verify(token.trim(), state.clock.now())?;
    Ok((
        Principal::Token {
            subject: claims.subject,
        },
        claims.project,
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

fn check_sizes(state: &AppState, request: &Request, body_limit: usize) -> Result<(), ApiError> {
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
    if crate::body::declared_length(request.headers()).is_some_and(|n| n > body_limit as u64) {
        return Err(crate::body::too_large(body_limit));
    }
    Ok(())
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}
