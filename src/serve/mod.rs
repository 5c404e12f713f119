//! `spanlint serve`: an OTLP receiver that checks live telemetry.
//!
//! ```text
//!  app ──OTLP/HTTP──► http ─┐                        ┌─► findings (printed when new)
//!  app ──OTLP/gRPC──► grpc ─┴─► Intake ──► pipeline ─┼─► coverage records, trace index
//!                        (bounded queue,  (one thread)├─► record (OTLP/JSON lines)
//!                         503 when full)              └─► forward queue ──► forwarder ──► upstream
//! ```
//!
//! [`http`] and [`grpc`] decode the transport (media type, gzip, size limits) and hand the
//! bytes to the [`pipeline`], which checks them with the same code as `check` (via
//! [`crate::input::LoadedFile`] and [`crate::check::check_file`]), de-duplicates the findings
//! ([`findings`]), records ([`record`]) and queues them for [`forward`]. Every queue is
//! bounded; when the forwarder falls behind, the pipeline waits, the intake fills, and the
//! receivers answer "busy" so clients retry (back-pressure). [`run`] owns the runtime, the
//! listeners and the end of the run: Ctrl-C, SIGTERM, `--duration`, `--max-spans`,
//! `--idle-timeout`; then it stops taking requests, lets the queues drain (bounded by the drain
//! timeout) and returns every count.

pub mod findings;
pub mod forward;
pub mod grpc;
pub mod http;
pub mod pipeline;
pub mod record;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::input::InputFormat;
pub use forward::{ForwardOptions, ForwardStats};
pub use pipeline::{Finished, Intake, Pipeline};

/// The encoding of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Proto,
}

impl Encoding {
    pub fn input_format(self) -> InputFormat {
        match self {
            Encoding::Json => InputFormat::Json,
            Encoding::Proto => InputFormat::Proto,
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Interrupted,
    Terminated,
    Duration,
    MaxSpans,
    Idle,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Interrupted => "interrupted (Ctrl-C)",
            StopReason::Terminated => "terminated (SIGTERM)",
            StopReason::Duration => "--duration elapsed",
            StopReason::MaxSpans => "--max-spans reached",
            StopReason::Idle => "no request for --idle-timeout",
        }
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// OTLP/HTTP address, `None` to not serve HTTP.
    pub http: Option<SocketAddr>,
    /// OTLP/gRPC address, `None` to not serve gRPC.
    pub grpc: Option<SocketAddr>,
    /// Largest request, compressed or not.
    pub max_message_size: usize,
    /// Requests that may wait for the pipeline before receivers answer "busy".
    pub queue: usize,
    pub duration: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// Where and how to forward, and the forward queue's size in batches.
    pub forward: Option<(ForwardOptions, usize)>,
    /// How long, after the end of the run, requests in flight and queued batches may take.
    pub drain: Duration,
}

/// Where the receivers listen (the ports chosen when `:0` was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub http: Option<SocketAddr>,
    pub grpc: Option<SocketAddr>,
}

/// Everything a run produced.
pub struct Outcome {
    pub reason: StopReason,
    pub elapsed: Duration,
    pub finished: Finished,
    pub forward: Option<ForwardStats>,
    /// Requests answered "busy" (back-pressure).
    pub busy: u64,
    /// Requests the receivers rejected before the pipeline, by reason.
    pub rejections: Vec<(pipeline::Rejection, u64)>,
}

/// Serves until a reason to stop, then drains and returns the counts. `announce` is called once
/// the listeners are bound. Errors: the listeners cannot be bound, the runtime cannot start.
pub fn run(
    options: Options,
    pipeline: Pipeline,
    announce: impl FnOnce(&Bound),
) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("spanlint-serve")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(options, pipeline, announce))
}

async fn bind(addr: Option<SocketAddr>, flag: &str) -> Result<Option<TcpListener>, String> {
    match addr {
        None => Ok(None),
        Some(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| format!("cannot listen on {addr} ({flag}): {e}")),
    }
}

async fn serve(
    options: Options,
    mut pipeline: Pipeline,
    announce: impl FnOnce(&Bound),
) -> Result<Outcome, String> {
    let started = Instant::now();
    let http_listener = bind(options.http, "--listen").await?;
    let grpc_listener = bind(options.grpc, "--grpc-listen").await?;
    announce(&Bound {
        http: http_listener.as_ref().and_then(|l| l.local_addr().ok()),
        grpc: grpc_listener.as_ref().and_then(|l| l.local_addr().ok()),
    });

    let (stop_tx, mut stop_rx) = watch::channel(None::<StopReason>);
    let stop_tx = Arc::new(stop_tx);
    let (intake, jobs) = Intake::new(options.queue);

    let (deadline_tx, deadline_rx) = watch::channel(None::<Instant>);
    let forwarder = options.forward.clone().map(|(forward_options, capacity)| {
        let (queue, batches) = mpsc::channel(capacity.max(1));
        pipeline.forward = Some(queue);
        tokio::spawn(forward::run(batches, forward_options, deadline_rx))
    });
    let on_limit = stop_tx.clone();
    pipeline.on_limit = Box::new(move || {
        set_reason(&on_limit, StopReason::MaxSpans);
    });
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("spanlint-pipeline".to_string())
        .spawn(move || {
            let _ = done_tx.send(pipeline.run(jobs));
        })
        .map_err(|e| format!("cannot start the pipeline thread: {e}"))?;

    let shutdown = |mut stop: watch::Receiver<Option<StopReason>>| async move {
        let _ = stop.wait_for(Option::is_some).await;
    };
    let mut servers = Vec::new();
    if let Some(listener) = http_listener {
        let app = http::router(intake.clone(), options.max_message_size);
        let signal = shutdown(stop_tx.subscribe());
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    if let Some(listener) = grpc_listener {
        let service = grpc::service(intake.clone(), options.max_message_size);
        let signal = shutdown(stop_tx.subscribe());
        servers.push(tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    signal,
                )
                .await
                .map_err(|e| e.to_string())
        }));
    }

    let reason = wait_for_stop(&options, started, &intake, &mut stop_rx).await;
    set_reason(&stop_tx, reason);
    intake.stop();
    let drain_end = Instant::now() + options.drain;
    deadline_tx.send_replace(Some(drain_end));
    // Listen for the second Ctrl-C before saying it can be pressed, so none is missed.
    let second_interrupt = interrupt_listener();
    eprintln!(
        "spanlint: stopping: draining requests in flight and queued forwards for up to {} \
         (Ctrl-C again to stop now; unsent spans are counted as dropped)",
        humantime::format_duration(options.drain)
    );
    let deadline_tx = Arc::new(deadline_tx);
    let second_interrupt = tokio::spawn({
        let deadline_tx = deadline_tx.clone();
        async move {
            if second_interrupt.await {
                deadline_tx.send_replace(Some(Instant::now()));
                eprintln!("spanlint: interrupted again: stopping now");
            }
        }
    });
    // Requests in flight get their answer; a server still busy a second after the drain
    // deadline (which a second Ctrl-C moves to now) is stopped (its requests already queued
    // are still checked).
    for mut server in servers {
        let deadline = deadline_tx.subscribe();
        let give_up = async move {
            forward::deadline_reached(deadline).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        tokio::select! {
            joined = &mut server => {
                if let Ok(Err(err)) = joined {
                    eprintln!("spanlint: receiver error: {err}");
                }
            }
            () = give_up => server.abort(),
        }
    }
    let busy = intake.busy();
    let rejections = intake.rejections();
    drop(intake);
    let finished = done_rx
        .await
        .map_err(|_| "the pipeline stopped unexpectedly".to_string())?;
    let forward = match forwarder {
        Some(task) => Some(task.await.unwrap_or_default()),
        None => None,
    };
    second_interrupt.abort();
    Ok(Outcome {
        reason,
        elapsed: started.elapsed(),
        finished,
        forward,
        busy,
        rejections,
    })
}

/// A future that resolves `true` on the next Ctrl-C. On Unix the listener is registered now,
/// not at the first poll, so an interrupt right after this call is not missed.
fn interrupt_listener() -> impl std::future::Future<Output = bool> {
    #[cfg(unix)]
    let mut interrupts =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        return match interrupts.as_mut() {
            Some(signal) => signal.recv().await.is_some(),
            None => std::future::pending().await,
        };
        #[cfg(not(unix))]
        return tokio::signal::ctrl_c().await.is_ok();
    }
}

fn set_reason(stop: &watch::Sender<Option<StopReason>>, reason: StopReason) {
    stop.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(reason);
            true
        } else {
            false
        }
    });
}

/// Waits for the first reason to stop.
async fn wait_for_stop(
    options: &Options,
    started: Instant,
    intake: &Intake,
    stop: &mut watch::Receiver<Option<StopReason>>,
) -> StopReason {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let end = options
        .duration
        .map(|d| tokio::time::Instant::from_std(started + d));
    let tick = Duration::from_millis(100);
    loop {
        #[cfg(unix)]
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        let elapsed = async {
            match end {
                Some(end) => tokio::time::sleep_until(end).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = &mut ctrl_c => return StopReason::Interrupted,
            () = terminated => return StopReason::Terminated,
            () = elapsed => return StopReason::Duration,
            changed = stop.changed() => {
                if let Some(reason) = *stop.borrow() {
                    return reason;
                }
                if changed.is_err() {
                    return StopReason::Terminated;
                }
            }
            () = tokio::time::sleep(tick) => {
                if options.idle_timeout.is_some_and(|idle| intake.idle() >= idle) {
                    return StopReason::Idle;
                }
            }
        }
    }
}
