//! The one error type handlers return: it renders Artifactory's error body. Each
//! service has its own error enum; only `http/` turns them into statuses (here, or
//! beside the handlers of search and plugins).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered as `{"errors":[{"status":N,"message":"…"}]}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// An error with a numeric status (an invalid one is 500), for services that
    /// carry statuses without HTTP types.
    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message,
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
    }
    /// `507`: the data folder's file system is full; nothing was stored.
    pub fn disk_full() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "The disk is full (no space left on the storage device): nothing was stored",
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// A `500` whose cause (a file path, an I/O or database error) is for the
    /// server log only: the client reads `what` and where to look.
    pub fn internal_logged(what: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what}");
        Self::internal(format!("{what}: the server log has the details"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::storage::StoreError> for ApiError {
    fn from(e: crate::storage::StoreError) -> Self {
        if let crate::storage::StoreError::Conflict(m) = e {
            return ApiError::conflict(m);
        }
        if e.is_disk_full() {
            tracing::warn!(error = %e, "write refused: the disk is full");
            return ApiError::disk_full();
        }
        if let crate::storage::StoreError::Unavailable(m) = &e {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Storage is unavailable for a moment: {m}"),
            );
        }
        ApiError::internal_logged("Storage failure", e)
    }
}

impl From<crate::artifacts::ArtifactError> for ApiError {
    fn from(e: crate::artifacts::ArtifactError) -> Self {
        use crate::artifacts::ArtifactError as W;
        match e {
            W::Invalid(m) => ApiError::bad_request(m),
            W::Forbidden(m) => ApiError::forbidden(m),
            W::NotFound(m) => ApiError::not_found(m),
            W::Conflict(m) => ApiError::conflict(m),
            W::QuotaExceeded(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            W::Cancelled => ApiError::new(
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                e.to_string(),
            ),
            W::Stale(what) => ApiError::conflict(format!("{what} changed meanwhile: retry")),
            W::Store(e) => e.into(),
        }
    }
}

impl From<crate::repos::RepoError> for ApiError {
    fn from(e: crate::repos::RepoError) -> Self {
        use crate::repos::RepoError as R;
        match e {
            R::Invalid(_) => ApiError::bad_request(e.to_string()),
            R::NoSuchRepo(_) => ApiError::not_found(e.to_string()),
            R::NotLocal { .. } => ApiError::method_not_allowed(e.to_string()),
            R::Store(e) => e.into(),
        }
    }
}

impl From<crate::webhooks::WebhookError> for ApiError {
    fn from(e: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError as E;
        match e {
            E::Invalid(_) => ApiError::bad_request(e.to_string()),
            E::NoSuchSubscription(_) => ApiError::not_found(e.to_string()),
            E::SubscriptionExists(_) => ApiError::conflict(e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        match e {
            A::Unauthorized(m) => ApiError::unauthorized(m),
            A::Forbidden(m) => ApiError::forbidden(m),
            A::Invalid(m) => ApiError::bad_request(m),
            A::NotFound(m) => ApiError::not_found(m),
            A::Conflict(m) => ApiError::conflict(m),
            e @ A::Internal(_) => ApiError::internal(e.to_string()),
            A::Store(e) => e.into(),
        }
    }
}

impl From<crate::builds::BuildError> for ApiError {
    fn from(e: crate::builds::BuildError) -> Self {
        use crate::builds::BuildError as B;
        match e {
            B::Invalid(m) => ApiError::bad_request(m),
            B::NotFound(m) => ApiError::not_found(m),
            B::Conflict(m) => ApiError::conflict(m),
            // The status of the repository's refusal, the message of the promotion.
            B::TargetRepo(r) => {
                let message = format!("Invalid promotion request: field 'targetRepo': {r}");
                ApiError::new(ApiError::from(r).status, message)
            }
            B::Repo(e) => e.into(),
            B::Auth(e) => e.into(),
            B::Artifact(e) => e.into(),
            B::Store(e) => e.into(),
        }
    }
}

impl From<crate::retention::RetentionError> for ApiError {
    fn from(e: crate::retention::RetentionError) -> Self {
        use crate::retention::RetentionError as R;
        match e {
            R::Invalid(_) | R::NoPlugin(_) | R::NotAPolicy(_) => ApiError::bad_request(e.to_string()),
            R::NoSuchPolicy(_) => ApiError::not_found(e.to_string()),
            R::Plugin(e) => e.into(),
            R::Search(e) => e.into(),
            R::Build(e) => e.into(),
            R::Repo(e) => e.into(),
            R::Store(e) => e.into(),
        }
    }
}

impl From<crate::remote::RemoteError> for ApiError {
    fn from(e: crate::remote::RemoteError) -> Self {
        use crate::remote::RemoteError as R;
        match e {
            R::NotFound(m) | R::Offline(m) => ApiError::not_found(m),
            R::BadGateway(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            R::Timeout(m) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, m),
            R::Storage(m) => ApiError::internal(m),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    /// A stored record that does not parse.
    fn from(e: serde_json::Error) -> Self {
        crate::storage::StoreError::Corrupt(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{"status": self.status.as_u16(), "message": self.message}]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Artifactory Realm\""),
            );
        }
        resp
    }
}

/// Result alias for handlers and domain functions.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage error's detail (here a file path) stays in the log.
    #[test]
    fn a_storage_failure_tells_the_client_no_internal_detail() {
        let io = std::io::Error::other("open /var/lib/binyard/blobs/ab/cd: permission denied");
        let e: ApiError = crate::storage::StoreError::Io(io).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, "Storage failure: the server log has the details");
        let e: ApiError = crate::artifacts::ArtifactError::Store(crate::storage::StoreError::Exists("x".into())).into();
        assert!(!e.message.contains("'x'"), "{}", e.message);
    }
}
