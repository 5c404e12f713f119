//! `spanlint serve`: receive OTLP traces from running apps, check each batch as it arrives,
//! optionally record and forward it (migrated), and report when the run ends.
//! The machinery is in `crate::serve`; this module holds the flags, the setup and the report.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::app::{ExitStatus, eprint_diagnostic, use_color, write_stdout};
use crate::cli::ColorChoice;
use crate::commands::check::{FailOn, fails, parse_size};
use crate::commands::migrate::ContentArg;
use crate::coverage::render;
use crate::finding::Severity;
use crate::migrate::mapping::MappingFile;
use crate::migrate::{Migrator, Options as MigrateOptions};
use crate::serve::pipeline::Rejection;
use crate::serve::record::Recorder;
use crate::serve::{self, Bound, ForwardOptions, Outcome, Pipeline, StopReason};

pub const EXAMPLES: &str = "\
Examples:
  spanlint serve                                   OTLP/HTTP on 127.0.0.1:4318, gRPC on :4317
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python app.py      (in another terminal)
  spanlint serve --duration 5m --record run.jsonl  check for 5 minutes, keep what arrived
  spanlint serve --idle-timeout 10s -- …           end 10 s after the last request (CI)
  spanlint serve --forward http://collector:4318 --migrate
                                                   a migrating proxy in front of a Collector
  spanlint serve --listen 0.0.0.0:4318 --no-grpc   HTTP only, on every interface

Ends on Ctrl-C, SIGTERM, --duration, --max-spans or --idle-timeout, then prints the findings
with their counts and the coverage table.
Exit status: 0 no finding at or above --fail-on, 1 findings at or above it, 2 setup errors,
rejected requests, no span received, spans not recorded, or spans not forwarded.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the OTLP/HTTP receiver (`/v1/traces`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    pub listen: SocketAddr,

    /// Address of the OTLP/gRPC receiver; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    pub grpc_listen: SocketAddr,

    /// Do not serve OTLP/HTTP.
    #[arg(long, conflicts_with = "no_grpc")]
    pub no_http: bool,

    /// Do not serve OTLP/gRPC.
    #[arg(long)]
    pub no_grpc: bool,

    /// Rules file to use instead of the built-in GenAI rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    #[command(flatten)]
    pub configuration: crate::commands::ConfigArgs,

    /// Largest request, compressed or decompressed (bytes, or with a KiB/MiB/GiB suffix);
    /// larger ones are answered 413 (gRPC: RESOURCE_EXHAUSTED without RetryInfo, which OTLP
    /// clients do not retry).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_message_size: usize,

    /// Requests that may wait to be checked; beyond, receivers answer 503 with Retry-After
    /// (gRPC: UNAVAILABLE) and clients retry.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub queue: usize,

    /// End the run after this long (`30s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "End")]
    pub duration: Option<Duration>,

    /// End the run once this many spans were received.
    #[arg(long, value_name = "N", help_heading = "End")]
    pub max_spans: Option<u64>,

    /// End the run when no request came for this long (`10s`), counted from the start.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "End")]
    pub idle_timeout: Option<Duration>,

    /// After the run ends: how long requests in flight and queued forwards may still take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "End")]
    pub drain_timeout: Duration,

    /// Append everything received to FILE as OTLP/JSON lines, to re-check later with
    /// `spanlint check FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Re-export every batch to this OTLP/HTTP endpoint (`/v1/traces` is appended unless
    /// present), as protobuf.
    #[arg(long, value_name = "URL", help_heading = "Forward")]
    pub forward: Option<String>,

    /// Migrate batches to the current conventions before forwarding (as `spanlint migrate`).
    #[arg(long, requires = "forward", help_heading = "Forward")]
    pub migrate: bool,

    /// With --migrate: keep each old key next to its new one.
    #[arg(long, requires = "migrate", help_heading = "Forward")]
    pub dual_emit: bool,

    /// With --migrate: do not rename spans to `{operation} {target}`.
    #[arg(long, requires = "migrate", help_heading = "Forward")]
    pub keep_span_names: bool,

    /// With --migrate: what to do with recorded content (prompts, completions, tool arguments).
    #[arg(long, value_enum, default_value_t = ContentArg::Keep, requires = "migrate", help_heading = "Forward")]
    pub content: ContentArg,

    /// Batches that may wait to be forwarded; beyond, the receivers push back.
    #[arg(long, value_name = "N", default_value_t = 64, help_heading = "Forward")]
    pub forward_queue: usize,

    /// Retries of a failed export (connection errors, timeouts, 429, 502, 503, 504), with
    /// exponential backoff from 200 ms to 5 s, honouring Retry-After.
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Forward")]
    pub forward_retries: u32,

    /// Timeout of one export request.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Forward")]
    pub forward_timeout: Duration,

    /// Lowest severity that makes the run fail (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Exit 0 even when there are findings; errors still exit 2.
    #[arg(long)]
    pub exit_zero: bool,

    /// Do not print the coverage table at the end.
    #[arg(long)]
    pub no_coverage: bool,

    /// When to colour the coverage table's bars.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("expected a duration such as 500ms, 30s, 5m or 1h: {e}"))
}

/// Runs `spanlint serve`.
pub fn run(args: &ServeArgs) -> ExitStatus {
    let pipeline = match setup(args) {
        Ok(pipeline) => pipeline,
        Err(report) => {
            eprint_diagnostic(report.as_ref());
            return ExitStatus::Error;
        }
    };
    let forward_url = match args.forward.as_deref().map(serve::forward::traces_url) {
        None => None,
        Some(Ok(url)) => Some(url),
        Some(Err(message)) => {
            eprintln!("spanlint: --forward: {message}");
            return ExitStatus::Error;
        }
    };
    let options = serve::Options {
        http: (!args.no_http).then_some(args.listen),
        grpc: (!args.no_grpc).then_some(args.grpc_listen),
        max_message_size: args.max_message_size,
        queue: args.queue,
        duration: args.duration,
        idle_timeout: args.idle_timeout,
        forward: forward_url.clone().map(|url| {
            let options = ForwardOptions {
                url,
                max_retries: args.forward_retries,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(5),
                timeout: args.forward_timeout,
                concurrency: 4,
            };
            (options, args.forward_queue)
        }),
        drain: args.drain_timeout,
    };
    let mut bound_at = None;
    let outcome = match serve::run(options, pipeline, |bound| {
        bound_at = Some(*bound);
        announce(bound, forward_url.as_deref());
    }) {
        Ok(outcome) => outcome,
        Err(message) => {
            eprintln!("spanlint: {message}");
            return ExitStatus::Error;
        }
    };
    let mut text = report(args, &outcome, forward_url.as_deref());
    if outcome.finished.counts.spans == 0 {
        text.push_str(&no_spans_hint(bound_at.as_ref()));
    }
    if let Err(stop) = write_stdout(&text) {
        return stop;
    }
    status(args, &outcome)
}

/// The configuration, rules, migrator and record file, before anything listens.
fn setup(args: &ServeArgs) -> Result<Pipeline, miette::Report> {
    let config = args.configuration.load()?;
    let rules = config.ruleset(args.rules.as_deref())?;
    let migrator = if args.migrate {
        let options = MigrateOptions {
            dual_emit: args.dual_emit,
            keep_span_names: args.keep_span_names,
            content: args.content.into(),
            target: None,
            squatter_namespace: config.migrate.squatter_namespace.clone(),
        };
        let rules = config.ruleset(args.rules.as_deref())?;
        Some(
            // Forwarded spans are rewritten, never diffed: no change text.
            Migrator::new(rules, MappingFile::builtin(), options)
                .map_err(|e| miette::miette!("--migrate: {e}"))?
                .without_change_text(),
        )
    } else {
        None
    };
    let recorder = args
        .record
        .as_deref()
        .map(|path| {
            Recorder::open(path)
                .map_err(|e| miette::miette!("cannot open {} (--record): {e}", path.display()))
        })
        .transpose()?;
    Ok(Pipeline {
        rules,
        config,
        limits: crate::input::Limits {
            max_message_size: args.max_message_size,
            max_input_size: args.max_message_size,
        },
        migrator,
        recorder,
        forward: None,
        max_spans: args.max_spans,
        on_limit: Box::new(|| {}),
    })
}

/// Where the receivers listen and how to point an app at them (stderr, so standard output
/// holds only findings and the report).
fn announce(bound: &Bound, forward: Option<&str>) {
    let mut text = String::new();
    if let Some(addr) = bound.http {
        let _ = writeln!(text, "spanlint serve: OTLP/HTTP on http://{addr}/v1/traces");
    }
    if let Some(addr) = bound.grpc {
        let _ = writeln!(text, "spanlint serve: OTLP/gRPC on {addr}");
    }
    if let Some(url) = forward {
        let _ = writeln!(text, "spanlint serve: forwarding to {url}");
    }
    match (bound.http, bound.grpc) {
        (Some(addr), _) => {
            let _ = writeln!(
                text,
                "point your app at it: OTEL_EXPORTER_OTLP_ENDPOINT=http://{addr}"
            );
        }
        (None, Some(addr)) => {
            let _ = writeln!(
                text,
                "point your app at it: OTEL_EXPORTER_OTLP_ENDPOINT=http://{addr} \
                 OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
            );
        }
        (None, None) => {}
    }
    text.push_str("Ctrl-C ends the run and prints the summary.");
    eprintln!("{text}");
}

/// The end-of-run report: what was received, recorded and forwarded; the findings with counts;
/// the coverage table.
fn report(args: &ServeArgs, outcome: &Outcome, forward: Option<&str>) -> String {
    let counts = &outcome.finished.counts;
    let mut out = String::new();
    let reason = match (outcome.reason, args.idle_timeout) {
        (StopReason::Idle, Some(idle)) => format!(
            "no request for {} (--idle-timeout)",
            humantime::format_duration(idle)
        ),
        (reason, _) => reason.describe().to_string(),
    };
    let _ = writeln!(
        out,
        "\nspanlint serve stopped: {reason} after {:.1}s",
        outcome.elapsed.as_secs_f64()
    );
    let _ = write!(
        out,
        "  received:  {}, {} ({} GenAI)",
        counted(counts.requests - counts.rejected, "request", "requests"),
        counted(counts.spans, "span", "spans"),
        counts.genai_spans
    );
    let rejected = rejections(outcome);
    let rejected_total: u64 = rejected.iter().map(|(_, n)| n).sum();
    if rejected_total > 0 {
        let parts: Vec<String> = rejected
            .iter()
            .map(|(why, n)| format!("{n} {}", why.describe()))
            .collect();
        let _ = write!(out, "; {rejected_total} rejected: {}", parts.join(", "));
    }
    if outcome.busy > 0 {
        let _ = write!(
            out,
            "; {} answered busy (503/UNAVAILABLE; clients must retry)",
            outcome.busy
        );
    }
    out.push('\n');
    if let Some(path) = &outcome.finished.recorded_to {
        let _ = writeln!(
            out,
            "  recorded:  {} to {}",
            counted(counts.recorded_spans, "span", "spans"),
            path.display()
        );
    }
    if let Some(error) = &outcome.finished.record_error {
        let _ = writeln!(out, "  record error: {error}");
    }
    if let (Some(stats), Some(url)) = (&outcome.forward, forward) {
        let _ = writeln!(
            out,
            "  forwarded: {} to {url}; {} failed, {} dropped; {}",
            counted(stats.forwarded_spans, "span", "spans"),
            stats.failed_spans,
            stats.dropped_spans,
            counted(stats.retries, "retry", "retries")
        );
        if counts.unmigrated > 0 {
            let _ = writeln!(
                out,
                "  forwarded unmigrated (--migrate could not rewrite them): {} batches",
                counts.unmigrated
            );
        }
        if let Some(error) = &stats.last_error {
            let _ = writeln!(
                out,
                "  last forward error: {}",
                crate::report::sanitize(error)
            );
        }
    }
    let findings = &outcome.finished.findings;
    let (errors, warnings, infos) = findings.counts();
    if findings.kinds() == 0 {
        out.push_str("\nno findings\n");
    } else {
        let _ = writeln!(
            out,
            "\nfindings ({} distinct, {} in all):",
            findings.kinds(),
            errors + warnings + infos
        );
        out.push_str(&findings.render());
    }
    let _ = writeln!(
        out,
        "{} ({} GenAI): {}, {}, {}",
        counted(counts.spans, "span", "spans"),
        counts.genai_spans,
        counted(errors as u64, "error", "errors"),
        counted(warnings as u64, "warning", "warnings"),
        counted(infos as u64, "info", "infos")
    );
    if !args.no_coverage && counts.genai_spans > 0 {
        out.push('\n');
        out.push_str(&render::table(
            &outcome.finished.coverage,
            None,
            use_color(args.color),
        ));
    }
    out
}

/// `1 span`, `2 spans`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Why a run without a single span fails, and what to check.
fn no_spans_hint(bound: Option<&Bound>) -> String {
    let mut places = Vec::new();
    if let Some(addr) = bound.and_then(|b| b.http) {
        places.push(format!(
            "http://{addr} (OTLP/HTTP: OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or http/json)"
        ));
    }
    if let Some(addr) = bound.and_then(|b| b.grpc) {
        places.push(format!(
            "http://{addr} (OTLP/gRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
        ));
    }
    format!(
        "\nno spans received, nothing was checked: is the exporter pointed at {}? \
         Is its protocol the one of that port, and is the traces exporter on \
         (OTEL_TRACES_EXPORTER=otlp)?\n",
        places.join(" or ")
    )
}

/// Rejected requests by reason, the ones with a count only: the malformed ones the pipeline
/// found plus the ones the receivers rejected themselves.
fn rejections(outcome: &Outcome) -> Vec<(Rejection, u64)> {
    outcome
        .rejections
        .iter()
        .map(|&(why, n)| {
            let parsed = if why == Rejection::Malformed {
                outcome.finished.counts.rejected
            } else {
                0
            };
            (why, n + parsed)
        })
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// 2 when something was lost or rejected or no span came, else `check`'s 0/1 by the worst finding.
fn status(args: &ServeArgs, outcome: &Outcome) -> ExitStatus {
    let lost_forwards = outcome
        .forward
        .as_ref()
        .is_some_and(|s| s.failed_spans + s.dropped_spans > 0);
    let rejected = !rejections(outcome).is_empty();
    // A run that checked nothing cannot pass: the exporter is most likely misconfigured.
    let nothing_checked = outcome.finished.counts.spans == 0;
    if rejected || nothing_checked || outcome.finished.record_error.is_some() || lost_forwards {
        return ExitStatus::Error;
    }
    let (errors, warnings, infos) = outcome.finished.findings.counts();
    let worst = if errors > 0 {
        Some(Severity::Error)
    } else if warnings > 0 {
        Some(Severity::Warning)
    } else if infos > 0 {
        Some(Severity::Info)
    } else {
        None
    };
    if !args.exit_zero && fails(worst, args.fail_on) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}
