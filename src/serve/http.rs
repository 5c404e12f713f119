//! The OTLP/HTTP receiver: `POST /v1/traces` with a protobuf (`application/x-protobuf`) or
//! JSON (`application/json`) body, maybe gzip-compressed (`Content-Encoding: gzip`).
//!
//! Answers as the OTLP specification says: 200 with an `ExportTraceServiceResponse` in the
//! request's encoding; 400 with a `google.rpc.Status` for a body that is not OTLP trace data;
//! 413 for a body over `--max-message-size` (compressed or not); 415 for another media type or
//! content encoding; 503 with `Retry-After` when the pipeline is busy or stopping; 404 for other
//! paths and 405 for other methods.

use std::io::Read as _;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message as _;

use super::Encoding;
use super::pipeline::{Intake, Refused, Rejection};

/// `google.rpc.Status`, the body of OTLP error answers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// gRPC status codes used in error bodies.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;
const UNIMPLEMENTED: i32 = 12;

/// Seconds a busy receiver asks clients to wait.
pub const RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Debug, Clone)]
struct Receiver {
    intake: Intake,
    /// `--max-message-size`, for the body as sent and once decompressed.
    max_size: usize,
}

/// The router: `/v1/traces`, and 404 elsewhere.
pub fn router(intake: Intake, max_size: usize) -> Router {
    Router::new()
        .route("/v1/traces", post(export).fallback(wrong_method))
        .fallback(not_found)
        .with_state(Receiver { intake, max_size })
}

async fn wrong_method(State(receiver): State<Receiver>) -> Response {
    receiver.intake.reject(Rejection::WrongMethod);
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        Encoding::Json,
        UNIMPLEMENTED,
        "spanlint serve receives traces only, at POST /v1/traces".to_string(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// Answered in the request's encoding when it has a known one (a protobuf exporter pointed at
/// the wrong path should still be able to decode the status), JSON otherwise.
async fn not_found(State(receiver): State<Receiver>, headers: HeaderMap) -> Response {
    receiver.intake.reject(Rejection::WrongPath);
    error(
        StatusCode::NOT_FOUND,
        media_type(&headers).unwrap_or(Encoding::Json),
        UNIMPLEMENTED,
        "spanlint serve receives traces only, at POST /v1/traces".to_string(),
    )
}

async fn export(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let Some(encoding) = media_type(&headers) else {
        receiver.intake.reject(Rejection::UnsupportedMediaType);
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            INVALID_ARGUMENT,
            "expected Content-Type application/x-protobuf or application/json".to_string(),
        );
    };
    let gzip = match content_encoding(&headers) {
        Some(gzip) => gzip,
        None => {
            receiver.intake.reject(Rejection::UnsupportedMediaType);
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
                INVALID_ARGUMENT,
                "expected Content-Encoding gzip or none".to_string(),
            );
        }
    };
    let too_large = || {
        receiver.intake.reject(Rejection::TooLarge);
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            RESOURCE_EXHAUSTED,
            format!(
                "the request exceeds the limit of {} bytes (--max-message-size)",
                receiver.max_size
            ),
        )
    };
    let raw = match axum::body::to_bytes(body, receiver.max_size).await {
        Ok(raw) => raw,
        Err(err) => {
            let over = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if over {
                return too_large();
            }
            receiver.intake.reject(Rejection::Malformed);
            return error(
                StatusCode::BAD_REQUEST,
                encoding,
                INVALID_ARGUMENT,
                format!("cannot read the request body: {err}"),
            );
        }
    };
    let body = if gzip {
        match gunzip(&raw, receiver.max_size) {
            Ok(Some(body)) => body,
            Ok(None) => return too_large(),
            Err(err) => {
                receiver.intake.reject(Rejection::Malformed);
                return error(
                    StatusCode::BAD_REQUEST,
                    encoding,
                    INVALID_ARGUMENT,
                    format!("invalid gzip body: {err}"),
                );
            }
        }
    } else {
        raw.to_vec()
    };
    match receiver.intake.submit(body, encoding).await {
        Ok(_) => success(encoding),
        Err(Refused::Malformed(message)) => {
            error(StatusCode::BAD_REQUEST, encoding, INVALID_ARGUMENT, message)
        }
        Err(Refused::Busy) => busy(encoding, "spanlint serve is busy; retry later"),
        Err(Refused::Stopping) => busy(encoding, "spanlint serve is stopping"),
    }
}

/// The body's encoding from `Content-Type` (parameters such as `charset` ignored).
fn media_type(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Proto),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// `Some(true)` for gzip, `Some(false)` for none or `identity`, `None` for anything else.
fn content_encoding(headers: &HeaderMap) -> Option<bool> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Some(false);
    };
    match value.to_str().ok()?.trim().to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => Some(true),
        "" | "identity" => Some(false),
        _ => None,
    }
}

/// Decompresses at most `max` bytes: `Ok(None)` when the body would be larger (a bomb costs
/// at most the limit).
fn gunzip(data: &[u8], max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(data)
        .take(cap)
        .read_to_end(&mut out)?;
    Ok((out.len() <= max).then_some(out))
}

fn success(encoding: Encoding) -> Response {
    // An empty ExportTraceServiceResponse: no partial success to report.
    match encoding {
        Encoding::Proto => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::new(),
        )
            .into_response(),
        Encoding::Json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
    }
}

fn busy(encoding: Encoding, message: &str) -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        encoding,
        UNAVAILABLE,
        message.to_string(),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

fn error(status: StatusCode, encoding: Encoding, code: i32, message: String) -> Response {
    match encoding {
        Encoding::Proto => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus { code, message }.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "code": code, "message": message }).to_string(),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_encodings() {
        let mut headers = HeaderMap::new();
        assert_eq!(media_type(&headers), None);
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(media_type(&headers), Some(Encoding::Json));
        headers.insert(
            header::CONTENT_TYPE,
            "Application/X-Protobuf".parse().unwrap(),
        );
        assert_eq!(media_type(&headers), Some(Encoding::Proto));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(media_type(&headers), None);
        assert_eq!(content_encoding(&headers), Some(false));
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(content_encoding(&headers), Some(true));
        headers.insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        assert_eq!(content_encoding(&headers), None);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b'{'; 1 << 20]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert_eq!(gunzip(&bomb, 1000).unwrap(), None);
        assert_eq!(
            gunzip(&bomb, 1 << 20).unwrap().map(|b| b.len()),
            Some(1 << 20)
        );
        assert!(gunzip(b"not gzip", 1000).is_err());
    }
}
