//! How the use cases' errors become API errors: one `From` impl per
//! operation's error, so that handlers use `?`.

use axum::http::StatusCode;
use vodsnap_ports::{
    BinError, CleanupError, DeleteError, DetailsError, LinkError, LinkRefused, ListError,
    PingError, RegisterError,
};
use vodsnap_service::OpenImageError;

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
            RegisterError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            RegisterError::Unknown(e) => Self::internal(&e),
        }
    }
}

fn conflict(error: ApiError) -> ApiError {
    metrics::counter!("vodsnap_registrations_total", "outcome" => "conflict").increment(1);
    error
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            ListError::Unknown(e) => Self::internal(&e),
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

impl From<CleanupError> for ApiError {
    fn from(e: CleanupError) -> Self {
        match e {
            CleanupError::Unavailable(e) => Self::dependency_down(DATABASE, &e),
            CleanupError::Unknown(e) => Self::internal(&e),
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
