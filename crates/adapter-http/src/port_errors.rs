//! How the ports' and the use cases' errors become API errors: one `From`
//! impl per operation's error, so that handlers use `?`.
//!
//! This is the only place in the HTTP adapter that matches on a port's
//! error: a handler that needs another answer for a case changes it here,
//! for every route that can meet it.

use axum::http::StatusCode;
use vodsnap_ports::{
    BinError, CheckUrlError, CredentialError, DeleteError, DetailsError, LinkError, LinkRefused,
    PingError, RegisterError, StoreError, TokenError, WebhookStoreError,
};
use vodsnap_service::{CreateWebhookError, OpenImageError};

use crate::auth::{AuthFailure, unauthenticated};
use crate::error::{ApiError, code};

const DATABASE: &str = "the database";

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::ConflictsWithLive => conflict(ApiError::new(
                StatusCode::CONFLICT,
                code::CONFLICT,
                "another task result is registered under this task_id",
            )),
            RegisterError::ConflictsWithDeleted => conflict(ApiError::new(
                StatusCode::CONFLICT,
                code::CONFLICT,
                "this task_id was deleted; task ids are never reused",
            )),
            RegisterError::AssetPurging => conflict(ApiError::new(
                StatusCode::CONFLICT,
                code::ASSET_PURGING,
                "the asset is being purged (DeleteAssets); register its task results once the purge is done",
            )),
            RegisterError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            RegisterError::Unknown(e) => Self::internal(&e),
        }
    }
}

fn conflict(error: ApiError) -> ApiError {
    metrics::counter!("vodsnap_registrations_total", "outcome" => "conflict").increment(1);
    error
}

/// Listing, the cleanup's figures: every store error without a business case.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            StoreError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<DetailsError> for ApiError {
    fn from(e: DetailsError) -> Self {
        match e {
            DetailsError::NotFound => Self::not_found("no live task result with this task_id"),
            DetailsError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            DetailsError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            DeleteError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<BinError> for ApiError {
    fn from(e: BinError) -> Self {
        match e {
            BinError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            BinError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<PingError> for ApiError {
    fn from(e: PingError) -> Self {
        Self::dependency_down(DATABASE, &e.0)
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Unavailable(e) => Self::dependency_down("the image storage", &e),
            LinkError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<OpenImageError> for ApiError {
    fn from(e: OpenImageError) -> Self {
        match e {
            // Not served here: as if the path did not exist.
            OpenImageError::Refused(LinkRefused::NotServedHere) | OpenImageError::NotFound => {
                Self::not_found("no such snapshot")
            }
            OpenImageError::Refused(LinkRefused::Expired) => Self::new(
                StatusCode::FORBIDDEN,
                code::LINK_REFUSED,
                "the link has expired; ask the details call for a fresh one",
            ),
            OpenImageError::Refused(LinkRefused::BadSignature) => Self::new(
                StatusCode::FORBIDDEN,
                code::LINK_REFUSED,
                "the link is altered or was never issued; ask the details call for one",
            ),
            // The store behind the reference check, or the image storage.
            OpenImageError::Unavailable(e) => Self::dependency_down("a store", &e),
            OpenImageError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Unavailable(e) => Self::dependency_down("the credential store", &e),
            CredentialError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => {
                unauthenticated(AuthFailure::TokenExpired, "the X-Auth-Token has expired")
            }
            TokenError::Malformed | TokenError::BadSignature => {
                unauthenticated(AuthFailure::TokenInvalid, "the X-Auth-Token is not valid")
            }
        }
    }
}

impl From<WebhookStoreError> for ApiError {
    fn from(e: WebhookStoreError) -> Self {
        match e {
            WebhookStoreError::NotFound => {
                Self::not_found("no such webhook or delivery in this project")
            }
            WebhookStoreError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            WebhookStoreError::Unknown(e) => Self::internal(&e),
        }
    }
}

impl From<CreateWebhookError> for ApiError {
    fn from(e: CreateWebhookError) -> Self {
        match e {
            // The address is not echoed: the answer says what kind of
            // address is refused, not what an internal name resolves to.
            CreateWebhookError::Url(CheckUrlError::Refused(_)) => Self::bad_parameter(
                "url: its host resolves to a loopback, private or link-local address, \
                 which webhooks may not reach",
            ),
            CreateWebhookError::Url(CheckUrlError::Unresolvable) => {
                Self::bad_parameter("url: its host does not resolve")
            }
            CreateWebhookError::Store(e) => e.into(),
        }
    }
}
