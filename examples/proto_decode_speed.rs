//! Decode-only speed of the protobuf readers: every message of a length-prefixed protobuf dump
//! (as `gen_dump binpb` writes) decoded into the model, once with the one-pass decoder and once
//! with the reference (prost + wire walk) decoder, on one thread, no rules. A measurement, not a
//! test.
//!
//! ```sh
//! cargo run --release --example gen_dump -- binpb 200 /tmp/d.binpb
//! cargo run --release --example proto_decode_speed -- /tmp/d.binpb [one-pass|reference]
//! ```

use std::time::Instant;

use spanlint::input::proto::{decode, reference};
use spanlint::input::wire;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: proto_decode_speed DUMP [one-pass|reference]")?;
    let only = args.next();
    let data = std::fs::read(&path)?;
    let frames = wire::exact_frames(&data).ok_or("not a length-prefixed protobuf stream")?;
    for decoder in ["one-pass", "reference"] {
        if only.as_deref().is_some_and(|o| o != decoder) {
            continue;
        }
        let start = Instant::now();
        let mut spans = 0usize;
        for frame in &frames {
            let batch = match decoder {
                "one-pass" => decode::decode_request(frame.data, frame.offset)
                    .map_err(|e| format!("byte {}: {}", e.offset, e.reason))?,
                _ => reference::decode_message(frame.data, frame.offset)
                    .map_err(|e| e.to_string())?,
            };
            spans += batch
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{decoder}: {} messages, {spans} spans, {:.3} s, {:.0} MB/s",
            frames.len(),
            seconds,
            data.len() as f64 / seconds / 1e6
        );
    }
    Ok(())
}
