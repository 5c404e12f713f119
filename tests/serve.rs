//! End-to-end tests of `spanlint serve`: the built binary on ephemeral loopback ports, fed real
//! dumps from fixtures/real over OTLP/HTTP (JSON and protobuf, gzip) and OTLP/gRPC (tonic),
//! with `--record`, `--forward` (to a second `spanlint serve`, with `--migrate`) and a target
//! that is down. Every child is killed when its handle is dropped and every wait has a
//! deadline, so a failing test ends instead of hanging. No timing assertions: the load test
//! counts spans, it does not time them (bench/serve.sh does).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// Longest any single wait may take before the test fails (instead of hanging).
const DEADLINE: Duration = Duration::from_secs(120);

/// A running `spanlint serve`, killed on drop.
struct Serve {
    child: Child,
    http: Option<String>,
    grpc: Option<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `spanlint serve` on ephemeral ports with `args` and waits until it listens.
    fn start(args: &[&str]) -> Serve {
        Serve::start_with(&["--no-coverage"], args, &[])
    }

    /// [`Serve::start`] with `options` instead of `--no-coverage` and `env` set.
    fn start_with(options: &[&str], args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("spanlint"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
            ])
            .args(["--isolated", "--duration", "5m"])
            .args(options)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("SPANLINT_INDEX_BUDGET")
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spanlint serve starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = lines_tx.send(line);
            }
        });
        let mut serve = Serve {
            child,
            http: None,
            grpc: None,
            stdout,
            stderr,
        };
        let started = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let Ok(line) = lines_rx.recv_timeout(left) else {
                panic!(
                    "spanlint serve did not announce its addresses; stderr: {}",
                    serve.stderr()
                );
            };
            if let Some(addr) = line.strip_prefix("spanlint serve: OTLP/HTTP on http://") {
                serve.http = Some(format!("http://{}", addr.trim_end_matches("/v1/traces")));
            } else if let Some(addr) = line.strip_prefix("spanlint serve: OTLP/gRPC on ") {
                serve.grpc = Some(format!("http://{addr}"));
            } else if line.starts_with("Ctrl-C ends the run") {
                break;
            }
        }
        serve
    }

    fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.http.as_ref().expect("HTTP is served"))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM (the way a container runtime stops it).
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Sends SIGINT (Ctrl-C).
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits until standard error contains `text`.
    fn wait_for_stderr(&self, text: &str) {
        let started = Instant::now();
        while !self.stderr().contains(text) {
            assert!(
                started.elapsed() < DEADLINE,
                "no {text:?} on stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the run to end; returns its exit status and standard output.
    fn wait(mut self) -> (ExitStatus, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "spanlint serve did not end; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads end with the pipes.
        let read = Instant::now();
        while Arc::strong_count(&self.stdout) > 1 && read.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let stdout = self.stdout.lock().unwrap().clone();
        (status, stdout)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixtures(extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("fixtures/real")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "fixtures/real holds the real dumps");
    paths
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// POSTs a body; returns the status, content type and body of the answer.
fn post(url: &str, content_type: &str, gzipped: bool, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let mut request = client().post(url).header("Content-Type", content_type);
    if gzipped {
        request = request.header("Content-Encoding", "gzip");
    }
    let response = request.body(body).send().expect("the receiver answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.bytes().unwrap().to_vec())
}

/// Posts every real dump: JSON as JSON, protobuf gzip-compressed. Returns the spans sent.
fn post_fixtures(url: &str) -> usize {
    let mut spans = 0;
    for path in fixtures("jsonl") {
        let body = std::fs::read(&path).unwrap();
        spans += span_count(&path);
        let (status, content_type, answer) = post(url, "application/json", false, body);
        assert_eq!(
            status,
            200,
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&answer)
        );
        assert_eq!(content_type, "application/json");
        assert_eq!(answer, b"{}");
    }
    for path in fixtures("pb") {
        let body = gzip(&std::fs::read(&path).unwrap());
        spans += span_count(&path);
        let (status, content_type, answer) = post(url, "application/x-protobuf", true, body);
        assert_eq!(status, 200, "{}", path.display());
        assert_eq!(content_type, "application/x-protobuf");
        assert!(answer.is_empty(), "an empty ExportTraceServiceResponse");
    }
    spans
}

/// The spans of a dump, as `spanlint` reads it.
fn span_count(path: &Path) -> usize {
    spans_of(path).len()
}

/// Every span of a dump: its ids, name and attributes (key and value), sorted for comparing
/// dumps in different formats.
fn spans_of(path: &Path) -> Vec<String> {
    let source = spanlint::input::Source::Path(path.to_path_buf());
    let loaded = spanlint::input::load(&source, None, &spanlint::input::Limits::default()).unwrap();
    let mut spans = Vec::new();
    for batch in loaded.batches() {
        for resource in &batch.unwrap().resource_spans {
            for scope in &resource.scope_spans {
                for span in &scope.spans {
                    let attributes: BTreeMap<String, String> = span
                        .attributes
                        .iter()
                        .map(|a| (a.key.to_string(), format!("{:?}", a.value)))
                        .collect();
                    spans.push(format!(
                        "{} {} {} {:?} {attributes:?}",
                        span.trace_id, span.span_id, span.name, span.kind
                    ));
                }
            }
        }
    }
    spans.sort();
    spans
}

/// The number in `received:  R requests, N spans` (or `1 span`) of the summary.
fn received_spans(stdout: &str) -> u64 {
    summary_number(stdout, "  received:  ", " span")
}

fn summary_number(stdout: &str, line_prefix: &str, before: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .unwrap_or_else(|| panic!("no `{line_prefix}` line in:\n{stdout}"));
    let end = line.find(before).unwrap_or_else(|| panic!("{line}"));
    let start = line[..end].rfind(' ').unwrap() + 1;
    line[start..end].parse().unwrap()
}

#[test]
fn checks_real_dumps_posted_as_json_and_gzip_protobuf_and_exits_1_on_errors() {
    let serve = Serve::start(&["--no-grpc"]);
    let sent = post_fixtures(&serve.traces_url());
    serve.terminate();
    let (status, stdout) = serve.wait();
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert_eq!(received_spans(&stdout), sent as u64);
    assert!(
        stdout.contains("spanlint serve stopped: terminated (SIGTERM)"),
        "{stdout}"
    );
    // Printed once as it arrived (de-duplicated: every dump came twice, JSON and protobuf)…
    let live = "warning[deprecated-attribute] `gen_ai.system` is deprecated since 1.37.0: use \
                `gen_ai.provider.name` (chat gpt-4o-mini · demo-otel-v2)";
    let (findings, summary) = stdout.split_once("spanlint serve stopped").unwrap();
    assert_eq!(
        findings.lines().filter(|l| *l == live).count(),
        1,
        "{stdout}"
    );
    // …and counted in the summary as often as `check` finds it in the same dumps (both formats).
    let check = spanlint_check(&["fixtures/real"]);
    let findings_of_check = check["findings"].as_array().unwrap();
    let same_key = findings_of_check
        .iter()
        .filter(|f| {
            f["rule"] == "deprecated-attribute"
                && f["span_name"] == "chat gpt-4o-mini"
                && f["attribute"] == "gen_ai.system"
        })
        .count();
    assert!(same_key >= 2);
    assert!(
        summary.contains(&format!("{same_key:>6}× {live}")),
        "{summary}"
    );
    assert!(summary.contains("error[foreign-namespace]"), "{summary}");
    // Every finding `check` reports, counted.
    assert_eq!(check["summary"]["spans"].as_u64().unwrap(), sent as u64);
    assert!(
        summary.contains(&format!(", {} in all):", findings_of_check.len())),
        "{summary}"
    );
}

#[test]
fn coverage_and_trace_rules_past_the_memory_budget_report_as_kept_in_memory() {
    // Past the budget the run's trace index and coverage facts go to temporary files.
    let report = |env: &[(&str, &str)]| {
        let serve = Serve::start_with(&[], &["--no-grpc"], env);
        post_fixtures(&serve.traces_url());
        serve.terminate();
        let (_, stdout) = serve.wait();
        let (_, report) = stdout
            .split_once("\nfindings (")
            .unwrap_or_else(|| panic!("{stdout}"));
        report.to_string()
    };
    let kept = report(&[]);
    // Trace-level findings, and the coverage table.
    assert!(kept.contains("info[missing-context]"), "{kept}");
    assert!(
        kept.contains("orphan spans (parent not in the input)"),
        "{kept}"
    );
    assert_eq!(report(&[("SPANLINT_INDEX_BUDGET", "1")]), kept);
}

fn spanlint_check(args: &[&str]) -> serde_json::Value {
    let output = Command::new(assert_cmd::cargo::cargo_bin("spanlint"))
        .args(["check", "--isolated", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn answers_as_the_otlp_specification_says() {
    let serve = Serve::start(&["--no-grpc", "--max-message-size", "2KiB"]);
    let url = serve.traces_url();
    let base = serve.http.clone().unwrap();

    // Malformed JSON: 400 with a google.rpc.Status in JSON naming where and what.
    let (status, content_type, body) = post(
        &url,
        "application/json",
        false,
        br#"{"resourceSpans": 5}"#.to_vec(),
    );
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["code"], 3, "INVALID_ARGUMENT");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP/JSON"),
        "{answer}"
    );

    // Malformed protobuf: 400 with a google.rpc.Status in protobuf.
    let (status, content_type, body) = post(
        &url,
        "application/x-protobuf",
        false,
        vec![0x0a, 0xff, 0xff, 0x01],
    );
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/x-protobuf")
    );
    let answer = RpcStatus::decode(body.as_slice()).expect("a google.rpc.Status");
    assert_eq!(answer.code, 3);
    assert!(
        answer.message.contains("invalid OTLP protobuf"),
        "{}",
        answer.message
    );

    // Corrupt gzip: 400.
    let (status, _, _) = post(&url, "application/json", true, b"not gzip".to_vec());
    assert_eq!(status, 400);

    // Over --max-message-size, as sent and once decompressed (a small gzip bomb): 413.
    let big = std::fs::read("fixtures/real/openinference-chat.jsonl").unwrap();
    assert!(big.len() > 2048);
    let (status, _, _) = post(&url, "application/json", false, big.clone());
    assert_eq!(status, 413);
    let bomb = gzip(&vec![b' '; 64 << 10]);
    assert!(bomb.len() < 2048);
    let (status, _, _) = post(&url, "application/json", true, bomb);
    assert_eq!(status, 413);

    // Other media types and encodings: 415; other paths: 404; other methods: 405.
    assert_eq!(post(&url, "text/plain", false, b"{}".to_vec()).0, 415);
    let response = client()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "br")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert_eq!(
        post(
            &format!("{base}/v1/metrics"),
            "application/json",
            false,
            b"{}".to_vec()
        )
        .0,
        404
    );
    assert_eq!(client().get(&url).send().unwrap().status().as_u16(), 405);

    // A well-formed empty request is fine.
    assert_eq!(
        post(
            &url,
            "application/json",
            false,
            br#"{"resourceSpans":[]}"#.to_vec()
        )
        .0,
        200
    );

    serve.terminate();
    let (status, stdout) = serve.wait();
    // Malformed requests were received: the run cannot vouch for them.
    assert_eq!(status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("9 rejected: 3 malformed, 2 too large, 1 wrong path, 1 wrong method, 2 unsupported media type"),
        "{stdout}"
    );
    assert!(stdout.contains("no findings"), "{stdout}");
}

/// `google.rpc.Status`, as the error bodies carry it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[test]
fn a_run_that_received_no_span_exits_2_and_says_what_to_check() {
    let serve = Serve::start(&["--no-grpc", "--idle-timeout", "300ms"]);
    let (status, stdout) = serve.wait();
    assert_eq!(status.code(), Some(2), "nothing was checked: {stdout}");
    assert!(
        stdout.contains("stopped: no request for 300ms (--idle-timeout)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("received:  0 requests, 0 spans"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "no spans received, nothing was checked: is the exporter pointed at http://127.0.0.1:"
        ),
        "{stdout}"
    );
}

#[test]
fn a_run_with_only_wrong_requests_exits_2_and_counts_them() {
    let serve = Serve::start(&["--no-grpc"]);
    let base = serve.http.clone().unwrap();
    let answer = post(
        &format!("{base}/v1/metrics"),
        "application/json",
        false,
        b"{}".to_vec(),
    );
    assert_eq!((answer.0, answer.1.as_str()), (404, "application/json"));
    // A protobuf exporter gets its 404 status in protobuf, which it can decode.
    let (status, content_type, body) = post(
        &format!("{base}/v1/logs"),
        "application/x-protobuf",
        false,
        Vec::new(),
    );
    assert_eq!(
        (status, content_type.as_str()),
        (404, "application/x-protobuf")
    );
    let answer = RpcStatus::decode(body.as_slice()).expect("a google.rpc.Status");
    assert!(answer.message.contains("/v1/traces"), "{}", answer.message);
    assert_eq!(
        post(&serve.traces_url(), "text/plain", false, b"{}".to_vec()).0,
        415
    );
    serve.terminate();
    let (status, stdout) = serve.wait();
    assert_eq!(status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("3 rejected: 2 wrong path, 1 unsupported media type"),
        "{stdout}"
    );
    assert!(stdout.contains("no spans received"), "{stdout}");
}

#[test]
fn one_request_of_one_span_is_said_in_the_singular() {
    let serve = Serve::start(&["--no-grpc", "--max-spans", "1"]);
    let (status, _, _) = post(
        &serve.traces_url(),
        "application/x-protobuf",
        false,
        generated_request(0, 1).encode_to_vec(),
    );
    assert_eq!(status, 200);
    let (_, stdout) = serve.wait();
    assert!(
        stdout.contains("received:  1 request, 1 span (1 GenAI)"),
        "{stdout}"
    );
    assert!(stdout.contains("\n1 span (1 GenAI): "), "{stdout}");
}

#[test]
fn grpc_exports_with_gzip_are_checked() {
    let mut requests = Vec::new();
    let mut sent = 0;
    for path in fixtures("pb") {
        let bytes = std::fs::read(&path).unwrap();
        requests.push(ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap());
        sent += span_count(&path) as u64;
    }
    let serve = Serve::start(&["--no-http", "--max-spans", &sent.to_string()]);
    let endpoint = serve.grpc.clone().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
        let mut client = tokio::time::timeout(DEADLINE, TraceServiceClient::connect(endpoint))
            .await
            .expect("connects in time")
            .expect("connects")
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        for request in requests {
            let answer = tokio::time::timeout(DEADLINE, client.export(request))
                .await
                .expect("answers in time")
                .expect("accepted");
            assert_eq!(answer.into_inner().partial_success, None);
        }
    });
    let (status, stdout) = serve.wait();
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("stopped: --max-spans reached"), "{stdout}");
    assert_eq!(received_spans(&stdout), sent);
    assert!(stdout.contains("error[foreign-namespace]"), "{stdout}");
}

/// Posts `message` as one gRPC Export call (HTTP/2, no compression) and returns the
/// `grpc-status` answered.
fn grpc_export_raw(endpoint: &str, message: &[u8]) -> String {
    let client = reqwest::blocking::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    body.extend_from_slice(message);
    let response = client
        .post(format!(
            "{endpoint}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .send()
        .unwrap();
    let status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    status.expect("an error answer carries grpc-status in its headers")
}

#[test]
fn grpc_answers_bad_requests_as_otlp_says_and_counts_them() {
    let serve = Serve::start(&["--no-http", "--max-message-size", "2KiB"]);
    let endpoint = serve.grpc.clone().unwrap();
    // Not protobuf: INVALID_ARGUMENT (3), not tonic's INTERNAL (13).
    assert_eq!(grpc_export_raw(&endpoint, &[0x0a, 0xff, 0xff, 0x01]), "3");
    // Over --max-message-size: RESOURCE_EXHAUSTED (8) without RetryInfo, which OTLP clients
    // do not retry, not tonic's OUT_OF_RANGE (11), which they would.
    assert_eq!(grpc_export_raw(&endpoint, &vec![0; 4096]), "8");
    serve.terminate();
    let (status, stdout) = serve.wait();
    assert_eq!(status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("2 rejected: 1 malformed, 1 too large"),
        "{stdout}"
    );
}

#[test]
fn record_writes_what_was_received_for_check_to_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("run.jsonl");
    let serve = Serve::start(&["--no-grpc", "--record", record.to_str().unwrap()]);
    let sent = post_fixtures(&serve.traces_url());
    serve.terminate();
    let (_, stdout) = serve.wait();
    assert!(
        stdout.contains(&format!("recorded:  {sent} spans to ")),
        "{stdout}"
    );
    // The same spans (ids, names, kinds, attributes) as the dumps posted, JSON and protobuf.
    let mut expected: Vec<String> = fixtures("jsonl")
        .iter()
        .chain(&fixtures("pb"))
        .flat_map(|p| spans_of(p))
        .collect();
    expected.sort();
    assert_eq!(spans_of(&record), expected);
    // `check` reads it as it reads the dumps: the same findings as both formats of the dumps.
    let recorded = spanlint_check(&[record.to_str().unwrap()]);
    let original = spanlint_check(&["fixtures/real"]);
    for key in ["spans", "genai_spans", "errors", "warnings", "infos"] {
        assert_eq!(recorded["summary"][key], original["summary"][key], "{key}");
    }
}

#[test]
fn forward_with_migrate_leaves_nothing_deprecated_upstream() {
    let upstream = Serve::start(&["--no-grpc"]);
    let front = Serve::start(&[
        "--no-grpc",
        "--forward",
        upstream.http.as_deref().unwrap(),
        "--migrate",
    ]);
    let sent = post_fixtures(&front.traces_url());
    front.terminate();
    let (status, front_out) = front.wait();
    assert_eq!(
        status.code(),
        Some(1),
        "the front saw the old attributes: {front_out}"
    );
    assert!(
        front_out.contains("warning[deprecated-attribute]"),
        "{front_out}"
    );
    assert!(
        front_out.contains(&format!("forwarded: {sent} spans to ")),
        "{front_out}"
    );
    assert!(front_out.contains("; 0 failed, 0 dropped;"), "{front_out}");
    // The front answered only after queueing, and drained its queue before ending.
    upstream.terminate();
    let (_, upstream_out) = upstream.wait();
    assert_eq!(received_spans(&upstream_out), sent as u64);
    for rule in [
        "deprecated-attribute",
        "deprecated-value",
        "deprecated-event",
    ] {
        assert!(
            !upstream_out.contains(rule),
            "{rule} upstream:\n{upstream_out}"
        );
    }
}

#[test]
fn a_forward_target_that_is_down_is_retried_then_reported() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = &fixtures("jsonl")[0];
    let spans = span_count(path);
    let front = Serve::start(&[
        "--no-grpc",
        "--forward",
        &format!("http://127.0.0.1:{port}"),
        "--forward-retries",
        "2",
        "--max-spans",
        &spans.to_string(),
    ]);
    let (status, _, _) = post(
        &front.traces_url(),
        "application/json",
        false,
        std::fs::read(path).unwrap(),
    );
    assert_eq!(status, 200, "accepted: checked, and queued for forwarding");
    let (status, stdout) = front.wait();
    assert_eq!(status.code(), Some(2), "spans were not forwarded: {stdout}");
    assert!(
        stdout.contains(&format!("forwarded: 0 spans to http://127.0.0.1:{port}/v1/traces; {spans} failed, 0 dropped; 2 retries")),
        "{stdout}"
    );
    assert!(stdout.contains("last forward error: "), "{stdout}");
    assert!(stdout.contains("gave up after 2 retries"), "{stdout}");
}

#[test]
fn a_hung_forward_target_is_given_up_at_the_drain_timeout_not_the_forward_timeout() {
    // Listens (the kernel completes connections) but never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let path = &fixtures("jsonl")[0];
    let spans = span_count(path);
    // A forward timeout far beyond the test's deadline: only the drain timeout can end it.
    let front = Serve::start(&[
        "--no-grpc",
        "--forward",
        &format!("http://127.0.0.1:{port}"),
        "--forward-timeout",
        "1h",
        "--drain-timeout",
        "300ms",
        "--max-spans",
        &spans.to_string(),
    ]);
    let (status, _, _) = post(
        &front.traces_url(),
        "application/json",
        false,
        std::fs::read(path).unwrap(),
    );
    assert_eq!(status, 200);
    let stderr = front.stderr.clone();
    let (status, stdout) = front.wait();
    assert_eq!(status.code(), Some(2), "spans were not forwarded: {stdout}");
    assert!(
        stdout.contains(&format!(
            "forwarded: 0 spans to http://127.0.0.1:{port}/v1/traces; 0 failed, {spans} dropped"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("no answer before the drain timeout"),
        "{stdout}"
    );
    assert!(
        stderr
            .lock()
            .unwrap()
            .contains("draining requests in flight and queued forwards for up to 300ms"),
        "{stderr:?}"
    );
    drop(hung);
}

#[test]
fn a_second_ctrl_c_stops_the_drain_at_once() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let path = &fixtures("jsonl")[0];
    let spans = span_count(path);
    // Neither timeout can end the run within the test's deadline: only the second Ctrl-C.
    let front = Serve::start(&[
        "--no-grpc",
        "--forward",
        &format!("http://127.0.0.1:{port}"),
        "--forward-timeout",
        "1h",
        "--drain-timeout",
        "1h",
    ]);
    let (status, _, _) = post(
        &front.traces_url(),
        "application/json",
        false,
        std::fs::read(path).unwrap(),
    );
    assert_eq!(status, 200);
    front.interrupt();
    front.wait_for_stderr("Ctrl-C again to stop now");
    front.interrupt();
    front.wait_for_stderr("interrupted again: stopping now");
    let (status, stdout) = front.wait();
    assert_eq!(status.code(), Some(2), "spans were not forwarded: {stdout}");
    assert!(
        stdout.contains(&format!("0 failed, {spans} dropped")),
        "{stdout}"
    );
    drop(hung);
}

/// A request of `count` chat spans with unique ids (`batch` makes them unique across
/// requests), using deprecated attributes so every span has findings.
fn generated_request(batch: u32, count: u32) -> ExportTraceServiceRequest {
    let text = |key: &str, value: &str| KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    };
    let spans = (0..count)
        .map(|i| {
            let mut trace_id = [0u8; 16];
            trace_id[..4].copy_from_slice(&batch.to_be_bytes());
            trace_id[4..8].copy_from_slice(&i.to_be_bytes());
            trace_id[15] = 1;
            Span {
                trace_id: trace_id.to_vec(),
                span_id: [&batch.to_be_bytes()[..], &i.to_be_bytes()[..]].concat(),
                name: "chat gpt-4o".to_string(),
                kind: 3,
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_001_000_000_000,
                attributes: vec![
                    text("gen_ai.operation.name", "chat"),
                    text("gen_ai.system", "openai"),
                    text("gen_ai.request.model", "gpt-4o"),
                ],
                ..Span::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "load")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// 20,000 spans from 8 concurrent clients through small queues (so the receivers push back
/// with 503 and clients retry), recorded and forwarded to a second `spanlint serve`: every
/// span is counted once at every stage. Counts only; bench/serve.sh measures the rate.
#[test]
fn load_on_loopback_loses_no_span_between_receive_check_record_and_forward() {
    const CLIENTS: u32 = 8;
    const REQUESTS_PER_CLIENT: u32 = 25;
    const SPANS_PER_REQUEST: u32 = 100;
    let total = u64::from(CLIENTS * REQUESTS_PER_CLIENT * SPANS_PER_REQUEST);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("load.jsonl");
    let upstream = Serve::start(&["--no-grpc", "--max-spans", &total.to_string()]);
    let front = Serve::start(&[
        "--no-grpc",
        "--queue",
        "2",
        "--forward-queue",
        "2",
        "--max-spans",
        &total.to_string(),
        "--record",
        record.to_str().unwrap(),
        "--forward",
        upstream.http.as_deref().unwrap(),
    ]);
    let url = front.traces_url();
    let busy = Arc::new(Mutex::new(0u64));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, busy) = (url.clone(), busy.clone());
            std::thread::spawn(move || {
                let http = client();
                for r in 0..REQUESTS_PER_CLIENT {
                    let body = generated_request(c * REQUESTS_PER_CLIENT + r, SPANS_PER_REQUEST)
                        .encode_to_vec();
                    let started = Instant::now();
                    loop {
                        assert!(started.elapsed() < DEADLINE, "request never accepted");
                        let response = http
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .body(body.clone())
                            .send()
                            .expect("the receiver answers");
                        match response.status().as_u16() {
                            200 => break,
                            503 => {
                                assert!(response.headers().contains_key("retry-after"));
                                *busy.lock().unwrap() += 1;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            other => panic!("unexpected HTTP {other}"),
                        }
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    let (status, front_out) = front.wait();
    assert_eq!(status.code(), Some(1), "{front_out}");
    assert_eq!(received_spans(&front_out), total, "{front_out}");
    assert!(
        front_out.contains(&format!("recorded:  {total} spans")),
        "{front_out}"
    );
    assert!(
        front_out.contains(&format!("forwarded: {total} spans to ")),
        "{front_out}"
    );
    assert!(front_out.contains("; 0 failed, 0 dropped;"), "{front_out}");
    // Busy answers are counted as such, without claiming the clients retried them.
    let busy_answers = *busy.lock().unwrap();
    if busy_answers > 0 {
        assert!(
            front_out.contains(&format!(
                "{busy_answers} answered busy (503/UNAVAILABLE; clients must retry)"
            )),
            "{front_out}"
        );
    }
    // Checked: one de-duplicated key, counted for every span.
    assert!(
        front_out.contains(&format!(
            "{total}× warning[deprecated-attribute] `gen_ai.system`"
        )),
        "{front_out}"
    );
    assert_eq!(span_count(&record), total as usize);
    let (_, upstream_out) = upstream.wait();
    assert_eq!(received_spans(&upstream_out), total, "{upstream_out}");
}
