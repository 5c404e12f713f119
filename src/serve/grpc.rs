//! The OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export` over
//! tonic, gzip-compressed requests accepted. A malformed request is `INVALID_ARGUMENT`; a busy
//! or stopping pipeline is `UNAVAILABLE`, which OTLP clients retry with backoff.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::Encoding;
use super::pipeline::{Intake, Refused};

#[derive(Debug)]
pub struct Receiver {
    intake: Intake,
}

/// The gRPC service, taking messages up to `max_size` bytes (`--max-message-size`).
pub fn service(intake: Intake, max_size: usize) -> TraceServiceServer<Receiver> {
    TraceServiceServer::new(Receiver { intake })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_size)
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
