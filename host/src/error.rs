//! The one error type a client can see, and its JSON envelope.

use http::{HeaderValue, StatusCode, header};

use crate::server::body::{HostBody, host_response};

/// Every failure the host answers itself. The `detail` strings are for
/// clients; anything internal is logged where the error is raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("no app serves {path}")]
    NotFound { path: String },
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("app `{app}` is not ready")]
    AppNotReady { app: String },
    #[error("the request did not complete within {deadline_ms} ms")]
    DeadlineExceeded { deadline_ms: u128 },
    #[error("the component failed while handling the request")]
    ComponentFailed,
    #[error("the response exceeds the limit of {limit} bytes")]
    ResponseTooLarge { limit: u64 },
    #[error("the host is at capacity; retry shortly")]
    Overloaded,
    #[error("the host is shutting down")]
    Draining,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Missing(String),
    #[error("missing bearer token")]
    Unauthorized,
    #[error("the bearer token is unknown or revoked")]
    InvalidToken,
    #[error("the token is not valid for this API")]
    Forbidden,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidComponent(String),
    #[error("{0}")]
    StoreUnavailable(String),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::InvalidComponent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::AppNotReady { .. } | ApiError::Overloaded | ApiError::Draining => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::DeadlineExceeded { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ComponentFailed | ApiError::ResponseTooLarge { .. } | ApiError::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The stable machine-readable name. Clients switch on this, so names
    /// are never changed once shipped.
    pub fn name(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::Missing(_) => "not_found",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidToken => "invalid_token",
            ApiError::Forbidden => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::InvalidComponent(_) => "invalid_component",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::AppNotReady { .. } => "app_not_ready",
            ApiError::DeadlineExceeded { .. } => "deadline_exceeded",
            ApiError::ComponentFailed => "component_failed",
            ApiError::ResponseTooLarge { .. } => "response_too_large",
            ApiError::Overloaded => "overloaded",
            ApiError::Draining => "draining",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Internal => "internal",
        }
    }

    /// `{"error":{"id":...,"name":...,"detail":...}}`
    pub fn envelope(&self, request_id: &str) -> serde_json::Value {
        serde_json::json!({
            "error": { "id": request_id, "name": self.name(), "detail": self.to_string() }
        })
    }

    pub fn into_response(self, request_id: &str) -> http::Response<HostBody> {
        let mut response = host_response(self.status(), "application/json", self.envelope(request_id).to_string());
        let headers = response.headers_mut();
        if matches!(self, ApiError::Overloaded | ApiError::AppNotReady { .. } | ApiError::Draining) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::Unauthorized | ApiError::InvalidToken) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape_is_stable() {
        let err = ApiError::PayloadTooLarge { limit: 10 };
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            err.envelope("req-1"),
            serde_json::json!({"error": {
                "id": "req-1",
                "name": "payload_too_large",
                "detail": "request body exceeds the limit of 10 bytes"
            }})
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(ApiError::NotFound { path: "/x".into() }.status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::DeadlineExceeded { deadline_ms: 1 }.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(ApiError::ComponentFailed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ApiError::AppNotReady { app: "a".into() }.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
