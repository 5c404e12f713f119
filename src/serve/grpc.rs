//! The OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export` over
//! tonic, gzip-compressed requests accepted. A malformed request is `INVALID_ARGUMENT`; a
//! request over `--max-message-size` is `RESOURCE_EXHAUSTED` without `RetryInfo` (which OTLP
//! says is not retryable: the same request would fail again); a busy or stopping pipeline is
//! `UNAVAILABLE`, which OTLP clients retry with backoff. Both failures tonic answers itself
//! before the service sees the request (a message it cannot decode is `INTERNAL`, one too
//! large is `OUT_OF_RANGE`, which OTLP says to retry) are rewritten by [`Answers`] and counted.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::server::NamedService;
use tonic::{Code, body::Body};

use super::Encoding;
use super::pipeline::{Intake, Refused, Rejection};

#[derive(Debug)]
pub struct Receiver {
    intake: Intake,
}

/// The gRPC service, taking messages up to `max_size` bytes (`--max-message-size`).
pub fn service(intake: Intake, max_size: usize) -> Answers {
    let inner = TraceServiceServer::new(Receiver {
        intake: intake.clone(),
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(max_size);
    Answers { inner, intake }
}

/// The trace service, with tonic's own answers to bad requests put the OTLP way and counted.
#[derive(Debug, Clone)]
pub struct Answers {
    inner: TraceServiceServer<Receiver>,
    intake: Intake,
}

impl NamedService for Answers {
    const NAME: &'static str = <TraceServiceServer<Receiver> as NamedService>::NAME;
}

impl Service<http::Request<Body>> for Answers {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<http::Request<Body>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answer = self.inner.call(request);
        let intake = self.intake.clone();
        Box::pin(async move {
            let response = answer.await?;
            Ok(rewrite(response, &intake))
        })
    }
}

/// Our service never answers `INTERNAL` or `OUT_OF_RANGE`: those come from tonic failing to
/// decompress or decode the message, or finding it over the limit. Both are the client's fault.
fn rewrite(response: http::Response<Body>, intake: &Intake) -> http::Response<Body> {
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    match status.code() {
        Code::Internal => {
            intake.reject(Rejection::Malformed);
            tonic::Status::invalid_argument(format!(
                "not an OTLP ExportTraceServiceRequest: {}",
                status.message()
            ))
            .into_http()
        }
        Code::OutOfRange => {
            intake.reject(Rejection::TooLarge);
            tonic::Status::resource_exhausted(format!("{} (--max-message-size)", status.message()))
                .into_http()
        }
        _ => response,
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        // The pipeline reads OTLP bytes (with offsets for its findings): tonic decoded the
        // message, so it is encoded once more.
        let body = request.into_inner().encode_to_vec();
        match self.intake.submit(body, Encoding::Proto).await {
            Ok(_) => Ok(Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            Err(Refused::Malformed(message)) => Err(Status::invalid_argument(message)),
            Err(Refused::Busy) => Err(Status::unavailable("spanlint serve is busy; retry later")),
            Err(Refused::Stopping) => Err(Status::unavailable("spanlint serve is stopping")),
        }
    }
}
