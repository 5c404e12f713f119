//! The per-batch pipeline, on one thread of its own: every accepted request goes through
//! parse → check (rules, then the configuration's severities and ignores) → de-duplicated
//! findings → coverage facts → `--record` → (`--migrate`) → the forward queue.
//!
//! Receivers hand requests over through [`Intake`], a bounded queue: when it is full they
//! answer "busy" (HTTP 503, gRPC `UNAVAILABLE`) at once instead of queueing more. A request is
//! answered only after the pipeline took it, so a 200 means its spans were checked, recorded
//! and queued for forwarding; a malformed request is rejected whole (HTTP 400) and counts
//! nowhere.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::Encoding;
use super::findings::Findings;
use super::forward::ForwardBatch;
use super::record::Recorder;
use crate::check::{self, FileReport, LocatedFinding};
use crate::config::Config;
use crate::coverage::{self, PieceFacts, RunTally, Tally, TraceHealthCount};
use crate::input::{Limits, LoadedFile};
use crate::migrate::{self, Migrator};
use crate::rules::Ruleset;
use crate::sink::Sink;
use crate::trace::{SpillError, TraceIndex};

/// One request, decompressed, waiting for the pipeline.
#[derive(Debug)]
pub struct Job {
    pub body: Vec<u8>,
    pub encoding: Encoding,
    /// The spans of the request, or why it is malformed.
    pub reply: oneshot::Sender<Result<u64, String>>,
}

/// Why a request was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not OTLP trace data; the message says where and what (never content).
    Malformed(String),
    /// The queue is full: try again later.
    Busy,
    /// The run is ending.
    Stopping,
}

/// What receivers share: the way into the pipeline and the time of the last request.
#[derive(Debug, Clone)]
pub struct Intake {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    started: Instant,
    /// Milliseconds since `started` of the last request, for `--idle-timeout`.
    last_request: AtomicU64,
    stopping: AtomicBool,
    /// Requests answered "busy".
    busy: AtomicU64,
    /// Requests the receivers rejected before the pipeline saw them, by [`Rejection`].
    rejected: [AtomicU64; Rejection::ALL.len()],
}

/// Why a receiver rejected a request itself (the pipeline counts the malformed batches it
/// parses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not decodable before parsing: a corrupt gzip body, an unreadable body, a gRPC message
    /// tonic cannot decode.
    Malformed,
    /// Over `--max-message-size`.
    TooLarge,
    /// Another path than `/v1/traces` (HTTP 404).
    WrongPath,
    /// Another method than POST (HTTP 405).
    WrongMethod,
    /// Another media type or content encoding (HTTP 415).
    UnsupportedMediaType,
}

impl Rejection {
    pub const ALL: [Rejection; 5] = [
        Rejection::Malformed,
        Rejection::TooLarge,
        Rejection::WrongPath,
        Rejection::WrongMethod,
        Rejection::UnsupportedMediaType,
    ];

    /// As the summary says it ("2 wrong path").
    pub fn describe(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::TooLarge => "too large",
            Rejection::WrongPath => "wrong path",
            Rejection::WrongMethod => "wrong method",
            Rejection::UnsupportedMediaType => "unsupported media type",
        }
    }
}

impl Intake {
    /// A bounded intake of `capacity` requests, and the receiving end for the pipeline.
    pub fn new(capacity: usize) -> (Intake, mpsc::Receiver<Job>) {
        let (jobs, receiver) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared {
            started: Instant::now(),
            last_request: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            busy: AtomicU64::new(0),
            rejected: Default::default(),
        });
        (Intake { jobs, shared }, receiver)
    }

    /// Hands a request to the pipeline and waits for its verdict.
    pub async fn submit(&self, body: Vec<u8>, encoding: Encoding) -> Result<u64, Refused> {
        self.touch();
        if self.shared.stopping.load(Ordering::Relaxed) {
            return Err(Refused::Stopping);
        }
        let (reply, verdict) = oneshot::channel();
        let job = Job {
            body,
            encoding,
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.busy.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::Busy);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Refused::Stopping),
        }
        match verdict.await {
            Ok(Ok(spans)) => Ok(spans),
            Ok(Err(message)) => Err(Refused::Malformed(message)),
            Err(_) => Err(Refused::Stopping),
        }
    }

    /// Time since the last request (or since the start, before the first one).
    pub fn idle(&self) -> std::time::Duration {
        let last = self.shared.last_request.load(Ordering::Relaxed);
        self.shared
            .started
            .elapsed()
            .saturating_sub(std::time::Duration::from_millis(last))
    }

    /// From now on every request is answered "stopping".
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
    }

    /// Requests answered "busy" so far.
    pub fn busy(&self) -> u64 {
        self.shared.busy.load(Ordering::Relaxed)
    }

    /// Counts a request a receiver rejected itself. It also counts as activity for
    /// `--idle-timeout`: a misconfigured exporter is still an exporter.
    pub fn reject(&self, why: Rejection) {
        self.touch();
        self.shared.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests the receivers rejected themselves, by reason (in [`Rejection::ALL`] order).
    pub fn rejections(&self) -> Vec<(Rejection, u64)> {
        Rejection::ALL
            .iter()
            .map(|&why| {
                (
                    why,
                    self.shared.rejected[why as usize].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    fn touch(&self) {
        let since_start = self.shared.started.elapsed().as_millis();
        self.shared.last_request.store(
            u64::try_from(since_start).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    /// Requests rejected as malformed.
    pub rejected: u64,
    pub spans: u64,
    pub genai_spans: u64,
    /// Spans written to `--record`.
    pub recorded_spans: u64,
    /// Batches forwarded unmigrated because `--migrate` could not rewrite them.
    pub unmigrated: u64,
}

/// What the pipeline needs besides its input.
pub struct Pipeline {
    pub rules: Ruleset,
    pub config: Config,
    pub limits: Limits,
    pub migrator: Option<Migrator>,
    pub recorder: Option<Recorder>,
    pub forward: Option<mpsc::Sender<ForwardBatch>>,
    /// `--max-spans`: when reached, `on_limit` is called once.
    pub max_spans: Option<u64>,
    pub on_limit: Box<dyn FnMut() + Send>,
}

/// The pipeline's results, when its queue closed.
pub struct Finished {
    pub counts: Counts,
    pub findings: Findings,
    /// Findings of the trace-level rules, evaluated over everything received.
    pub trace_findings: usize,
    pub coverage: coverage::Report,
    /// The first `--record` write error; recording stops at it.
    pub record_error: Option<String>,
    pub recorded_to: Option<std::path::PathBuf>,
}

struct State {
    counts: Counts,
    findings: Findings,
    /// The coverage totals and trace index of everything received, within the memory budget
    /// (past it, in temporary files).
    coverage: RunTally,
    /// The first failure of those temporary files; coverage and trace rules stop at it.
    spill_error: Option<SpillError>,
    record_error: Option<String>,
    limit_reached: bool,
}

impl Pipeline {
    /// Takes jobs until every [`Intake`] is dropped and the queue is empty.
    pub fn run(mut self, mut jobs: mpsc::Receiver<Job>) -> Finished {
        let mut state = State {
            counts: Counts::default(),
            findings: Findings::default(),
            coverage: RunTally::default(),
            spill_error: None,
            record_error: None,
            limit_reached: false,
        };
        while let Some(job) = jobs.blocking_recv() {
            let verdict = self.handle(&mut state, job.body, job.encoding);
            // The client may have gone; its spans were taken all the same.
            let _ = job.reply.send(verdict);
        }
        self.finish(state)
    }

    fn handle(
        &mut self,
        state: &mut State,
        body: Vec<u8>,
        encoding: Encoding,
    ) -> Result<u64, String> {
        state.counts.requests += 1;
        let name = format!("request {}", state.counts.requests);
        let parsed = parse(name, body, encoding, self.limits);
        let (file, spans) = match parsed {
            Ok(parsed) => parsed,
            Err(message) => {
                state.counts.rejected += 1;
                return Err(message);
            }
        };
        if let Ok(batches) = file.batches().collect::<Result<Vec<_>, _>>()
            && state.spill_error.is_none()
        {
            let mut facts = PieceFacts::default();
            let mut index = TraceIndex::default();
            for batch in &batches {
                facts.add_batch(batch, &self.rules, &mut index, 0);
            }
            // Every request is file 0: its offsets are the request's own.
            if let Err(err) = state.coverage.add(&facts, index, 0) {
                eprintln!("spanlint: {err}; coverage and trace rules stop here");
                state.spill_error = Some(err);
            }
        }
        let mut report = check::check_file(&file, &self.rules);
        // The coverage facts fed the same spans to the run's index, which the trace rules use.
        report.traces = TraceIndex::default();
        Sink::new(&self.config, None).apply(std::slice::from_mut(&mut report));
        print_new(&mut state.findings, &report.findings);
        state.counts.spans += spans;
        state.counts.genai_spans += report.genai_spans as u64;

        if let Some(recorder) = self
            .recorder
            .as_mut()
            .filter(|_| state.record_error.is_none())
        {
            match recorder.write(file.bytes(), encoding) {
                Ok(()) => state.counts.recorded_spans += spans,
                Err(err) => {
                    let message = format!("cannot write {}: {err}", recorder.path().display());
                    eprintln!("spanlint: {message}; recording stops");
                    state.record_error = Some(message);
                }
            }
        }
        if let Some(queue) = &self.forward {
            let batch = forward_batch(&file, encoding, spans, self.migrator.as_ref(), state);
            // Blocks while the forward queue is full: the intake fills and receivers answer
            // "busy" (back-pressure). Fails only when the forwarder is gone, which it is not
            // before this thread ends.
            let _ = queue.blocking_send(batch);
        }
        if let Some(max) = self.max_spans
            && state.counts.spans >= max
            && !state.limit_reached
        {
            state.limit_reached = true;
            (self.on_limit)();
        }
        Ok(spans)
    }

    fn finish(self, mut state: State) -> Finished {
        let recorded_to = self.recorder.as_ref().map(|r| r.path().to_path_buf());
        if let Some(recorder) = self.recorder {
            let path = recorder.path().display().to_string();
            if let Err(err) = recorder.finish()
                && state.record_error.is_none()
            {
                state.record_error = Some(format!("cannot write {path}: {err}"));
            }
        }
        // Trace-level rules need whole traces: they run once, over everything received (the
        // coverage tally reads the index first).
        let tally = std::mem::take(&mut state.coverage);
        let nothing = || (Tally::default().settle(&TraceIndex::default()), Vec::new());
        let (coverage, trace_findings) = match state.spill_error {
            Some(_) => nothing(),
            None => tally
                .finish_with_findings(&self.rules)
                .unwrap_or_else(|err| {
                    eprintln!("spanlint: {err}; no coverage or trace-level findings");
                    nothing()
                }),
        };
        let mut report = FileReport {
            findings: trace_findings
                .iter()
                .map(|found| LocatedFinding {
                    finding: found.finding.clone(),
                    position: found.position,
                    snippet: None,
                })
                .collect(),
            ..FileReport::default()
        };
        Sink::new(&self.config, None).apply(std::slice::from_mut(&mut report));
        let trace_count = report.findings.len();
        if trace_count > 0 {
            say("trace-level findings (evaluated over everything received):");
            print_new(&mut state.findings, &report.findings);
        }
        let coverage = coverage.report(
            TraceHealthCount::of(trace_findings.iter().map(|found| &found.finding)),
            None,
        );
        Finished {
            counts: state.counts,
            findings: state.findings,
            trace_findings: trace_count,
            coverage,
            record_error: state.record_error,
            recorded_to,
        }
    }
}

/// Loads and fully parses a request: every message must be OTLP trace data. Returns the file
/// and its number of spans.
fn parse(
    name: String,
    body: Vec<u8>,
    encoding: Encoding,
    limits: Limits,
) -> Result<(LoadedFile, u64), String> {
    let mut file =
        LoadedFile::from_bytes(name, body, encoding.input_format()).map_err(|e| e.to_string())?;
    file.limits = limits;
    let mut spans = 0u64;
    for batch in file.batches() {
        let batch = batch.map_err(|e| e.to_string())?;
        for resource in &batch.resource_spans {
            for scope in &resource.scope_spans {
                spans += scope.spans.len() as u64;
            }
        }
    }
    Ok((file, spans))
}

/// Prints the findings whose key is new, one line each, as they arrive.
fn print_new(findings: &mut Findings, located: &[LocatedFinding]) {
    let mut out = String::new();
    for f in located {
        if let Some(line) = findings.add(&f.finding) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !out.is_empty() {
        say(out.trim_end());
    }
}

/// A line on standard output, flushed now (the findings of a live run are read as they come;
/// a closed pipe is ignored: the summary's exit status still counts).
fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// The batch as it goes upstream: migrated with `--migrate`, and as protobuf (what every OTLP
/// receiver takes) unless a JSON body does not map onto the protobuf messages, in which case it
/// goes as OTLP/JSON.
fn forward_batch(
    file: &LoadedFile,
    encoding: Encoding,
    spans: u64,
    migrator: Option<&Migrator>,
    state: &mut State,
) -> ForwardBatch {
    let migrated = migrator.and_then(|m| match migrate::migrate_file(file, m) {
        Ok(migrated) => Some(migrated.content),
        Err(err) => {
            state.counts.unmigrated += 1;
            eprintln!("spanlint: --migrate: {err}; forwarding the batch unmigrated");
            None
        }
    });
    let content = migrated.unwrap_or_else(|| file.bytes().to_vec());
    let proto = |body: Vec<u8>| ForwardBatch {
        body: Bytes::from(body),
        content_type: "application/x-protobuf",
        spans,
    };
    match encoding {
        Encoding::Proto => proto(content),
        Encoding::Json => match serde_json::from_slice::<ExportTraceServiceRequest>(&content) {
            Ok(request) => proto(request.encode_to_vec()),
            Err(_) => ForwardBatch {
                body: Bytes::from(content),
                content_type: "application/json",
                spans,
            },
        },
    }
}
