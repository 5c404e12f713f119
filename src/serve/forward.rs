//! `--forward URL`: re-exports every accepted batch to an upstream OTLP/HTTP endpoint.
//!
//! Batches wait in a bounded queue (`--forward-queue`); when it is full the pipeline waits,
//! its own queue fills, and the receivers answer 503 / `UNAVAILABLE` so clients retry later:
//! back-pressure instead of unbounded memory. A few exports run at once. Each is retried with
//! exponential backoff on connection errors, timeouts and the OTLP "retryable" answers (429,
//! 502, 503, 504), honouring `Retry-After`; other answers fail the batch at once. Every span
//! ends up counted as forwarded, failed or dropped (still queued, retrying or waiting for an
//! answer when the drain time after the end of the run ran out, or at a second Ctrl-C):
//! nothing is lost silently.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc, watch};

/// One batch to re-export, already encoded.
#[derive(Debug, Clone)]
pub struct ForwardBatch {
    pub body: Bytes,
    pub content_type: &'static str,
    pub spans: u64,
}

/// How to forward.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// The full URL, `…/v1/traces`.
    pub url: String,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Exports in flight at once.
    pub concurrency: usize,
}

/// What happened to the forwarded spans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub forwarded_spans: u64,
    pub failed_spans: u64,
    /// Spans given up on because the run ended and the drain time ran out.
    pub dropped_spans: u64,
    pub batches: u64,
    pub failed_batches: u64,
    pub retries: u64,
    pub last_error: Option<String>,
}

/// The URL exports go to: `URL/v1/traces`, as OTLP exporters derive it from
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, unless the URL already ends with `/v1/traces`.
pub fn traces_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "`{url}`: only http:// and https:// (OTLP/HTTP) can be forwarded to"
        ));
    }
    let trimmed = url.trim_end_matches('/');
    if trimmed.ends_with("/v1/traces") {
        Ok(trimmed.to_string())
    } else {
        Ok(format!("{trimmed}/v1/traces"))
    }
}

/// Forwards batches until the queue is closed and empty. After `deadline` is set (the run
/// ended and the drain time passed) nothing is retried or sent any more: the rest is dropped
/// and counted.
pub async fn run(
    mut queue: mpsc::Receiver<ForwardBatch>,
    options: ForwardOptions,
    deadline: watch::Receiver<Option<Instant>>,
) -> ForwardStats {
    let stats = Arc::new(Mutex::new(ForwardStats::default()));
    let client = match reqwest::Client::builder().timeout(options.timeout).build() {
        Ok(client) => client,
        Err(err) => {
            // Without a client nothing can be sent: every batch fails, counted.
            let mut stats = ForwardStats {
                last_error: Some(format!("cannot build the HTTP client: {err}")),
                ..ForwardStats::default()
            };
            while let Some(batch) = queue.recv().await {
                stats.batches += 1;
                stats.failed_batches += 1;
                stats.failed_spans += batch.spans;
            }
            return stats;
        }
    };
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(batch) = queue.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (client, options, stats, deadline) = (
            client.clone(),
            options.clone(),
            stats.clone(),
            deadline.clone(),
        );
        tasks.spawn(async move {
            let spans = batch.spans;
            let (outcome, retries) = export(&client, &options, batch, &deadline).await;
            let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.batches += 1;
            stats.retries += retries;
            match outcome {
                Outcome::Forwarded => stats.forwarded_spans += spans,
                Outcome::Failed(error) => {
                    stats.failed_batches += 1;
                    stats.failed_spans += spans;
                    stats.last_error = Some(error);
                }
                Outcome::Dropped(error) => {
                    stats.failed_batches += 1;
                    stats.dropped_spans += spans;
                    if error.is_some() {
                        stats.last_error = error;
                    }
                }
            }
            drop(slot);
        });
        // Reap finished exports so the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[derive(Debug)]
enum Outcome {
    Forwarded,
    Failed(String),
    /// Given up at the end of the run; the last error, if an attempt was made.
    Dropped(Option<String>),
}

fn past(deadline: &watch::Receiver<Option<Instant>>, at: Instant) -> bool {
    deadline.borrow().is_some_and(|d| at >= d)
}

/// Resolves when the drain deadline is set and reached. The deadline may be set during an
/// export (the run ends) or moved earlier (a second Ctrl-C), so both are watched: an export
/// to a hung upstream must not outlive the drain time by up to `--forward-timeout`.
pub(crate) async fn deadline_reached(mut deadline: watch::Receiver<Option<Instant>>) {
    loop {
        let current = *deadline.borrow_and_update();
        let sleep = async {
            match current {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = sleep => return,
            changed = deadline.changed() => {
                if changed.is_err() {
                    // The run is gone without a deadline: nothing more to wait for.
                    match current {
                        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                        None => std::future::pending::<()>().await,
                    }
                    return;
                }
            }
        }
    }
}

/// Sends one batch, retrying as the OTLP specification says. Returns the outcome and the
/// number of retries.
async fn export(
    client: &reqwest::Client,
    options: &ForwardOptions,
    batch: ForwardBatch,
    deadline: &watch::Receiver<Option<Instant>>,
) -> (Outcome, u64) {
    let mut backoff = options.initial_backoff;
    let mut retries = 0;
    let mut last_error = None;
    loop {
        if past(deadline, Instant::now()) {
            return (Outcome::Dropped(last_error), retries);
        }
        let send = client
            .post(&options.url)
            .header(reqwest::header::CONTENT_TYPE, batch.content_type)
            .body(batch.body.clone())
            .send();
        let sent = tokio::select! {
            sent = send => sent,
            () = deadline_reached(deadline.clone()) => {
                let error = format!("{}: no answer before the drain timeout", options.url);
                return (Outcome::Dropped(Some(error)), retries);
            }
        };
        let (error, retry_after) = match sent {
            Ok(response) if response.status().is_success() => {
                return (Outcome::Forwarded, retries);
            }
            Ok(response) => {
                let status = response.status();
                let error = format!("{} answered HTTP {status}", options.url);
                if !matches!(status.as_u16(), 429 | 502 | 503 | 504) {
                    return (Outcome::Failed(error), retries);
                }
                (error, retry_after(response.headers()))
            }
            Err(err) => (format!("{}: {}", options.url, error_chain(&err)), None),
        };
        if retries >= u64::from(options.max_retries) {
            return (
                Outcome::Failed(format!("{error} (gave up after {retries} retries)")),
                retries,
            );
        }
        let wait = retry_after.unwrap_or(backoff).min(options.max_backoff);
        if past(deadline, Instant::now() + wait) {
            return (Outcome::Dropped(Some(error)), retries);
        }
        last_error = Some(error);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = deadline_reached(deadline.clone()) => {
                return (Outcome::Dropped(last_error), retries);
            }
        }
        retries += 1;
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for OTLP endpoints and ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The error and its causes ("error sending request: connection refused"), one line.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_as_exporters_do() {
        assert_eq!(
            traces_url("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://x.example/otlp/").unwrap(),
            "https://x.example/otlp/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("grpc://collector:4317").is_err());
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
