//! Regenerates `fixtures/input/` and `tests/data/bad/` from `fixtures/real/`.
//!
//! Run through `fixtures/input/make.sh`. The outputs are committed; tests never run this. It
//! does its own framing and compression (not spanlint's) so the fixtures check the reader
//! independently.

use std::fs;
use std::io::Write;
use std::path::Path;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let real = Path::new("fixtures/real");
    let input = Path::new("fixtures/input");
    let bad = Path::new("tests/data/bad");
    fs::create_dir_all(input)?;
    fs::create_dir_all(bad)?;

    let line = |name: &str| -> Result<String> {
        Ok(fs::read_to_string(real.join(format!("{name}.jsonl")))?
            .trim_end()
            .to_string())
    };
    let pb = |name: &str| fs::read(real.join(format!("{name}.pb")));
    let chat = line("openai-v2-chat")?;
    let tool = line("openai-v2-tool")?;
    let error = line("openai-v2-error")?;
    let two_lines = format!("{chat}\n{tool}\n");

    // JSON layouts.
    let doc: serde_json::Value = serde_json::from_str(&chat)?;
    fs::write(
        input.join("openai-v2-chat.pretty.json"),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    fs::write(input.join("concatenated.json"), format!("{chat}{error}"))?;
    fs::write(input.join("two-lines.jsonl"), &two_lines)?;
    let snake = serde_json::to_string(&snake_case_keys(doc))?;
    fs::write(input.join("proto-field-names.json"), snake + "\n")?;

    // Whole-stream compression; the gzip file is two members, one per line.
    let mut gz = gzip(format!("{chat}\n").as_bytes())?;
    gz.extend(gzip(format!("{tool}\n").as_bytes())?);
    fs::write(input.join("two-lines.jsonl.gz"), gz)?;
    fs::write(
        input.join("two-lines.jsonl.zst"),
        zstd(two_lines.as_bytes())?,
    )?;
    let chat_pb = pb("openai-v2-chat")?;
    let tool_pb = pb("openai-v2-tool")?;
    let vercel_pb = pb("vercel-ai-chat")?;
    fs::write(input.join("openai-v2-chat.pb.zst"), zstd(&chat_pb)?)?;

    // Length-prefixed proto streams.
    let stream = frames(&[&chat_pb, &tool_pb, &vercel_pb]);
    fs::write(input.join("stream.binpb"), &stream)?;
    fs::write(input.join("stream.binpb.zst"), zstd(&stream)?)?;

    // The older per-message layout: each message compressed, then framed.
    let json_frames = [
        zstd(format!("{chat}\n").as_bytes())?,
        zstd(format!("{tool}\n").as_bytes())?,
    ];
    fs::write(
        input.join("framed-zstd-json.jsonl.zst"),
        frames(&json_frames),
    )?;
    let proto_frames = [zstd(&chat_pb)?, zstd(&tool_pb)?];
    fs::write(
        input.join("framed-zstd-proto.binpb.zst"),
        frames(&proto_frames),
    )?;

    // Broken inputs.
    let cut = tool.len() / 2;
    fs::write(
        bad.join("truncated.jsonl"),
        format!("{chat}\n{}", &tool[..cut]),
    )?;
    fs::write(bad.join("truncated.pb"), &chat_pb[..chat_pb.len() / 2])?;
    fs::write(bad.join("not-otlp.json"), "[{\"resourceSpans\": []}]\n")?;
    fs::write(bad.join("random.bin"), pseudo_random(512))?;
    fs::write(bad.join("empty.json"), "")?;
    Ok(())
}

/// Renames every object key from lowerCamelCase to snake_case (the proto field names).
fn snake_case_keys(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake_case(&k), snake_case_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(snake_case_keys).collect()),
        other => other,
    }
}

fn snake_case(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Each message preceded by its length as a 4-byte big-endian integer.
fn frames<T: AsRef<[u8]>>(messages: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let m = m.as_ref();
        out.extend_from_slice(&u32::try_from(m.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

fn zstd(data: &[u8]) -> Result<Vec<u8>> {
    Ok(zstd::encode_all(data, 3)?)
}

/// Deterministic noise (xorshift64) that starts like no known format.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    if let Some(first) = out.first_mut() {
        *first = 0xfe;
    }
    out
}
