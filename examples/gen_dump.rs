//! Writes a large, realistic dump for benchmarks: the real fixtures replicated with fresh,
//! deterministic trace and span ids until the requested size is reached.
//!
//! ```sh
//! cargo run --release --example gen_dump -- FORMAT SIZE_MB OUT
//! ```
//! FORMAT: `jsonl` (one export request per line, as the Collector file exporter writes),
//! `json` (one large pretty-printed document), `binpb` (the exporter's 4-byte big-endian
//! length-prefixed protobuf stream). Add `.gz` or `.zst` to OUT's name to compress.
//! Prints the number of spans and of (uncompressed) bytes written. `bench/run.sh` drives it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const FIXTURES: &[&str] = &[
    "openai-v2-chat",
    "openai-v2-error",
    "openai-v2-latest-content-chat",
    "openai-v2-latest-content-tool",
    "openai-v2-tool",
    "openinference-chat",
    "openinference-tool",
    "openllmetry-legacy-chat",
    "openllmetry-legacy-tool",
    "vercel-ai-chat",
    "vercel-ai-tool",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, size_mb, out] = args.as_slice() else {
        return Err("usage: gen_dump jsonl|json|binpb SIZE_MB OUT".into());
    };
    let target = size_mb.parse::<u64>()? * 1_000_000;
    let mut writer = compressed_writer(Path::new(out))?;
    let mut ids = Ids::default();
    let (mut written, mut spans) = (0u64, 0u64);
    let mut replica = 0usize;
    if format == "json" {
        writer.write_all(b"{\"resourceSpans\": [\n")?;
    }
    while written < target {
        let name = FIXTURES[replica % FIXTURES.len()];
        replica += 1;
        let bytes = match format.as_str() {
            "jsonl" | "json" => {
                let text = std::fs::read_to_string(format!("fixtures/real/{name}.jsonl"))?;
                let mut doc: serde_json::Value = serde_json::from_str(text.trim_end())?;
                spans += ids.renew_json(&mut doc);
                if format == "jsonl" {
                    let mut line = serde_json::to_vec(&doc)?;
                    line.push(b'\n');
                    line
                } else {
                    let mut out = Vec::new();
                    for (i, rs) in doc["resourceSpans"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        if written > 0 || i > 0 {
                            out.extend_from_slice(b",\n");
                        }
                        out.extend(serde_json::to_vec_pretty(rs)?);
                    }
                    out
                }
            }
            "binpb" => {
                let bytes = std::fs::read(format!("fixtures/real/{name}.pb"))?;
                let mut request = ExportTraceServiceRequest::decode(bytes.as_slice())?;
                spans += ids.renew_proto(&mut request);
                let message = request.encode_to_vec();
                let mut framed = (message.len() as u32).to_be_bytes().to_vec();
                framed.extend(message);
                framed
            }
            other => return Err(format!("unknown format {other}").into()),
        };
        written += bytes.len() as u64;
        writer.write_all(&bytes)?;
    }
    if format == "json" {
        writer.write_all(b"\n]}\n")?;
    }
    writer.flush()?;
    drop(writer);
    println!("{spans} {written}");
    Ok(())
}

fn compressed_writer(path: &Path) -> Result<Box<dyn Write>> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else if name.ends_with(".zst") {
        Box::new(zstd::Encoder::new(file, 3)?.auto_finish())
    } else {
        Box::new(file)
    })
}

/// Fresh ids: one new trace per replica, spans renumbered, parent links kept consistent.
#[derive(Default)]
struct Ids {
    trace: u64,
    span: u64,
}

impl Ids {
    fn renew_json(&mut self, doc: &mut serde_json::Value) -> u64 {
        self.trace += 1;
        let trace = format!("{:032x}", self.trace);
        let mut mapping = std::collections::HashMap::new();
        let mut count = 0;
        let spans = doc["resourceSpans"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .flat_map(|rs| rs["scopeSpans"].as_array_mut().into_iter().flatten())
            .flat_map(|ss| ss["spans"].as_array_mut().into_iter().flatten());
        let spans: Vec<&mut serde_json::Value> = spans.collect();
        for span in &spans {
            let old = span["spanId"].as_str().unwrap_or_default().to_string();
            self.span += 1;
            mapping.insert(old, format!("{:016x}", self.span));
        }
        for span in spans {
            count += 1;
            span["traceId"] = trace.clone().into();
            for key in ["spanId", "parentSpanId"] {
                if let Some(new) = span[key].as_str().and_then(|old| mapping.get(old)) {
                    span[key] = new.clone().into();
                }
            }
        }
        count
    }

    fn renew_proto(&mut self, request: &mut ExportTraceServiceRequest) -> u64 {
        self.trace += 1;
        let trace = self.trace.to_be_bytes();
        let trace: Vec<u8> = [0u8; 8].iter().chain(trace.iter()).copied().collect();
        let mut mapping = std::collections::HashMap::new();
        let spans = request
            .resource_spans
            .iter_mut()
            .flat_map(|rs| rs.scope_spans.iter_mut())
            .flat_map(|ss| ss.spans.iter_mut());
        let spans: Vec<_> = spans.collect();
        for span in &spans {
            self.span += 1;
            mapping.insert(span.span_id.clone(), self.span.to_be_bytes().to_vec());
        }
        let count = spans.len() as u64;
        for span in spans {
            span.trace_id = trace.clone();
            span.span_id = mapping[&span.span_id].clone();
            if let Some(parent) = mapping.get(&span.parent_span_id) {
                span.parent_span_id = parent.clone();
            }
        }
        count
    }
}
