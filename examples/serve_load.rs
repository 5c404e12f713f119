//! Load generator for `spanlint serve` (bench/serve.sh drives it): posts real spans from
//! fixtures/real (protobuf, fresh trace ids per request) to an OTLP/HTTP endpoint from several
//! concurrent clients, retrying on 503 as OTLP exporters do, and prints
//! `SPANS SECONDS BUSY_ANSWERS` once every span was accepted.
//!
//! ```sh
//! cargo run --release --example serve_load -- http://127.0.0.1:4318/v1/traces 100000 8
//! ```

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Roughly this many spans per request (whole fixture requests are combined).
const SPANS_PER_REQUEST: usize = 100;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, total, clients] = args.as_slice() else {
        return Err("usage: serve_load URL TOTAL_SPANS CLIENTS".into());
    };
    let total: usize = total.parse()?;
    let clients: usize = clients.parse()?;
    let fixtures = fixtures()?;
    let requests = build_requests(&fixtures, total);
    let sent: usize = requests.iter().map(|(_, spans)| spans).sum();
    let mut per_client: Vec<Vec<Vec<u8>>> = vec![Vec::new(); clients.max(1)];
    for (i, (body, _)) in requests.into_iter().enumerate() {
        per_client[i % clients.max(1)].push(body);
    }
    let started = Instant::now();
    let workers: Vec<_> = per_client
        .into_iter()
        .map(|bodies| {
            let url = url.clone();
            std::thread::spawn(move || -> Result<u64> {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()?;
                let mut busy = 0;
                for body in bodies {
                    loop {
                        let response = http
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .body(body.clone())
                            .send()?;
                        match response.status().as_u16() {
                            200 => break,
                            503 => {
                                busy += 1;
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            other => return Err(format!("HTTP {other}").into()),
                        }
                    }
                }
                Ok(busy)
            })
        })
        .collect();
    let mut busy = 0;
    for worker in workers {
        busy += worker.join().map_err(|_| "a client panicked")??;
    }
    println!("{sent} {:.3} {busy}", started.elapsed().as_secs_f64());
    Ok(())
}

/// Every protobuf dump of fixtures/real.
fn fixtures() -> Result<Vec<ExportTraceServiceRequest>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("fixtures/real")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pb") {
            out.push(ExportTraceServiceRequest::decode(
                std::fs::read(&path)?.as_slice(),
            )?);
        }
    }
    out.sort_by_key(|r| r.encoded_len());
    Ok(out)
}

/// Encoded requests of about [`SPANS_PER_REQUEST`] spans until `total` spans, each fixture
/// copy with a fresh trace id (so every span is distinct), and their span counts.
fn build_requests(fixtures: &[ExportTraceServiceRequest], total: usize) -> Vec<(Vec<u8>, usize)> {
    let mut requests = Vec::new();
    let mut copy: u64 = 0;
    let mut spans = 0;
    while spans < total {
        let mut request = ExportTraceServiceRequest::default();
        let mut in_request = 0;
        while in_request < SPANS_PER_REQUEST && spans + in_request < total {
            let mut fixture = fixtures[copy as usize % fixtures.len()].clone();
            copy += 1;
            for resource in &mut fixture.resource_spans {
                for scope in &mut resource.scope_spans {
                    for span in &mut scope.spans {
                        if span.trace_id.len() == 16 {
                            span.trace_id[..8].copy_from_slice(&copy.to_be_bytes());
                        }
                        in_request += 1;
                    }
                }
            }
            request.resource_spans.append(&mut fixture.resource_spans);
        }
        spans += in_request;
        requests.push((request.encode_to_vec(), in_request));
    }
    requests
}
