//! `--record FILE`: everything received, appended as OTLP/JSON lines (the Collector file
//! exporter's format: one `ExportTraceServiceRequest` per line), so `spanlint check FILE`
//! re-checks the run later.
//!
//! A JSON body is written as received, one line per document (raw line breaks are JSON
//! whitespace, so replacing them with spaces changes nothing else); a protobuf body is
//! converted with the OTLP/JSON mapping of `opentelemetry-proto` (hex ids, camelCase).
//! Writes are buffered; the buffer is flushed after every request, so a killed process loses at
//! most the request being written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::value::RawValue;

use super::Encoding;

/// The open `--record` file.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    out: BufWriter<File>,
    /// Requests written.
    pub requests: u64,
}

impl Recorder {
    /// Opens (creating, or appending to) the file.
    pub fn open(path: &Path) -> std::io::Result<Recorder> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Recorder {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            requests: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one received request (already validated) and flushes.
    pub fn write(&mut self, body: &[u8], encoding: Encoding) -> std::io::Result<()> {
        match encoding {
            Encoding::Json => {
                let text = std::str::from_utf8(body).map_err(std::io::Error::other)?;
                let documents = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
                for document in documents {
                    let document = document.map_err(std::io::Error::other)?;
                    let line = document.get().replace(['\n', '\r'], " ");
                    self.out.write_all(line.as_bytes())?;
                    self.out.write_all(b"\n")?;
                }
            }
            Encoding::Proto => {
                let request = ExportTraceServiceRequest::decode(body)
                    .map_err(|e| std::io::Error::other(format!("protobuf: {e}")))?;
                let mut json = serde_json::to_value(&request).map_err(std::io::Error::other)?;
                drop_nulls(&mut json);
                serde_json::to_writer(&mut self.out, &json).map_err(std::io::Error::other)?;
                self.out.write_all(b"\n")?;
            }
        }
        self.requests += 1;
        self.out.flush()
    }

    /// Flushes what is buffered and syncs the file to disk.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

/// Removes `null` members: the serializer writes absent messages (`"scope": null`) as null,
/// which OTLP/JSON writers leave out and strict readers (ours) reject.
fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_becomes_one_line_per_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let mut recorder = Recorder::open(&path).unwrap();
        let body = b"{\n  \"resourceSpans\": []\n}\n{\"resourceSpans\":[]}";
        recorder.write(body, Encoding::Json).unwrap();
        recorder.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{   \"resourceSpans\": [] }\n{\"resourceSpans\":[]}\n"
        );
    }

    #[test]
    fn absent_messages_are_left_out_not_null() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "chat".to_string(),
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let mut recorder = Recorder::open(&path).unwrap();
        recorder
            .write(&request.encode_to_vec(), Encoding::Proto)
            .unwrap();
        recorder.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("null"), "{text}");
        let loaded = crate::input::LoadedFile::from_bytes(
            "run.jsonl",
            text.into_bytes(),
            crate::input::InputFormat::Json,
        )
        .unwrap();
        let batches: Vec<_> = loaded.batches().collect::<Result<_, _>>().unwrap();
        let span = &batches[0].resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.name, "chat");
        assert_eq!(span.trace_id.to_string(), "01".repeat(16));
    }
}
