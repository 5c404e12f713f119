//! `migrate` and `coverage` on streamed files: a large dump read chunk by chunk gives
//! byte for byte what reading it whole gives (JSON lines, CRLF, protobuf frames, gzip/zstd,
//! format conversion), and a failure in a late chunk leaves no output and the original intact.

mod common;

use std::io::{Cursor, Write};
use std::path::Path;

use spanlint::commands::migrate::migrate_stream;
use spanlint::input::{self, Chunker, InputFormat, Limits, LoadedFile, Opened, Source, wire};
use spanlint::migrate::mapping::MappingFile;
use spanlint::migrate::{Migrator, Options, migrate_file};
use spanlint::rules::Ruleset;

use common::{spanlint, stderr};

fn migrator() -> Migrator {
    Migrator::new(
        Ruleset::builtin(),
        MappingFile::builtin(),
        Options::default(),
    )
    .unwrap()
}

fn real(extension: &str) -> Vec<Vec<u8>> {
    let paths = common::real_fixtures(extension);
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Every real JSON-lines fixture's lines, `copies` times over, with `eol` line ends.
fn json_lines(copies: usize, eol: &str) -> Vec<u8> {
    let lines: Vec<String> = real("jsonl")
        .iter()
        .flat_map(|f| {
            String::from_utf8(f.clone())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = String::new();
    for _ in 0..copies {
        for line in &lines {
            out.push_str(line);
            out.push_str(eol);
        }
    }
    out.into_bytes()
}

/// Every real protobuf fixture as frames of a length-prefixed stream, `copies` times over.
fn proto_stream(copies: usize) -> Vec<u8> {
    let messages = real("pb");
    let all: Vec<&Vec<u8>> = (0..copies).flat_map(|_| &messages).collect();
    wire::join_frames(&all)
}

fn whole(data: &[u8], format: InputFormat) -> Vec<u8> {
    let file = LoadedFile::from_bytes("dump", data.to_vec(), format).unwrap();
    migrate_file(&file, &migrator()).unwrap().content
}

fn streamed(data: &[u8], format: InputFormat, chunk_size: usize) -> Vec<u8> {
    let chunker = Chunker::new(
        "dump",
        Cursor::new(data.to_vec()),
        format,
        Limits::default(),
    )
    .with_chunk_size(chunk_size);
    let mut out = Vec::new();
    migrate_stream(chunker, &migrator(), None, &mut out).unwrap();
    out
}

#[test]
fn streamed_json_lines_migrate_byte_for_byte_as_a_whole_file() {
    for eol in ["\n", "\r\n"] {
        let dump = json_lines(3, eol);
        let expected = whole(&dump, InputFormat::Json);
        assert_ne!(expected, dump, "the real dumps have something to migrate");
        for size in [1, 700, 5000, 1 << 20] {
            assert!(
                streamed(&dump, InputFormat::Json, size) == expected,
                "chunk size {size}, eol {eol:?}"
            );
        }
    }
}

#[test]
fn streamed_protobuf_migrates_byte_for_byte_as_a_whole_file() {
    let dump = proto_stream(3);
    let expected = whole(&dump, InputFormat::Proto);
    assert_ne!(expected, dump, "the real dumps have something to migrate");
    for size in [1, 3000, 1 << 20] {
        assert!(
            streamed(&dump, InputFormat::Proto, size) == expected,
            "chunk size {size}"
        );
    }
}

#[test]
fn unchanged_protobuf_messages_are_copied_as_they_are() {
    // A message with nothing to migrate and a field prost would drop (an unknown field 99 of
    // the request) comes out byte for byte, next to a message that changes.
    let changing = real("pb").remove(0);
    let current = whole(&wire::join_frames(&[&changing]), InputFormat::Proto);
    let mut odd = current[4..].to_vec();
    odd.extend_from_slice(&[0x9a, 0x06, 0x01, b'z']);
    let odd = wire::join_frames(&[&odd]);
    let dump = [wire::join_frames(&[&changing]), odd.clone()].concat();
    for size in [1, 1 << 20] {
        let out = streamed(&dump, InputFormat::Proto, size);
        assert!(out.ends_with(&odd), "chunk size {size}");
        assert!(out.starts_with(&current), "chunk size {size}");
    }
    assert!(
        whole(&dump, InputFormat::Proto).ends_with(&odd),
        "read whole"
    );
}

/// More than 8 MiB of JSON lines, so the binary streams them: the real lines first and last,
/// and between them copies of a plain HTTP span (quick to migrate in a debug build).
fn large_lines() -> Vec<u8> {
    let real = json_lines(1, "\n");
    let filler = concat!(
        r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"traceId":"#,
        r#""5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","#,
        r#""kind":2}]}]}]}"#,
        "\n"
    );
    let copies = (9 << 20) / filler.len() + 1;
    [real.clone(), filler.repeat(copies).into_bytes(), real].concat()
}

/// A compressed dump of more than 8 MiB of JSON lines (small once compressed).
fn large_compressed(codec: &str) -> (Vec<u8>, Vec<u8>) {
    let plain = large_lines();
    let packed = match codec {
        "zstd" => zstd::stream::encode_all(plain.as_slice(), 3).unwrap(),
        _ => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&plain).unwrap();
            enc.finish().unwrap()
        }
    };
    (plain, packed)
}

#[test]
fn streamed_gzip_and_zstd_are_written_compressed_as_a_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    for codec in ["zstd", "gzip"] {
        let (plain, packed) = large_compressed(codec);
        let path = dir.path().join(format!("dump.{codec}"));
        std::fs::write(&path, &packed).unwrap();
        let Opened::Stream(chunker) =
            input::open(&Source::Path(path.clone()), None, &Limits::default()).unwrap()
        else {
            panic!("a large {codec} dump is streamed");
        };
        let mut out = Vec::new();
        migrate_stream(
            chunker.with_chunk_size(100_000),
            &migrator(),
            None,
            &mut out,
        )
        .unwrap();
        // What the whole file gives: the migrated content, compressed the same way.
        let expected = whole(&plain, InputFormat::Json);
        let decoded = match codec {
            "zstd" => zstd::stream::decode_all(out.as_slice()).unwrap(),
            _ => {
                let mut text = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(out.as_slice()),
                    &mut text,
                )
                .unwrap();
                text
            }
        };
        assert!(decoded == expected, "{codec}: the migrated content");
        let recompressed = match codec {
            "zstd" => zstd::stream::encode_all(expected.as_slice(), 0).unwrap(),
            _ => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&expected).unwrap();
                enc.finish().unwrap()
            }
        };
        assert!(out == recompressed, "{codec}: the same compressed bytes");
    }
}

#[test]
fn streamed_conversion_matches_the_whole_file_conversion() {
    let dir = tempfile::tempdir().unwrap();
    for (dump, from, to, name) in [
        (
            json_lines(2, "\n"),
            InputFormat::Json,
            InputFormat::Proto,
            "proto",
        ),
        (
            proto_stream(2),
            InputFormat::Proto,
            InputFormat::Json,
            "json",
        ),
        // One message alone is written without framing, streamed or not.
        (
            json_lines(1, "\n")[..]
                .split(|b| *b == b'\n')
                .next()
                .unwrap()
                .to_vec(),
            InputFormat::Json,
            InputFormat::Proto,
            "proto",
        ),
    ] {
        let input = dir.path().join("small");
        let output = dir.path().join("small.out");
        std::fs::write(&input, &dump).unwrap();
        let run = spanlint(&[
            "migrate",
            "--output-format",
            name,
            "-o",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        let expected = std::fs::read(&output).unwrap();
        for size in [1, 4000] {
            let chunker = Chunker::new("dump", Cursor::new(dump.clone()), from, Limits::default())
                .with_chunk_size(size);
            let mut out = Vec::new();
            migrate_stream(chunker, &migrator(), Some(to), &mut out).unwrap();
            assert!(out == expected, "{from:?} → {to:?}, chunk size {size}");
        }
    }
}

/// A JSON-lines dump of more than 8 MiB (streamed by the binary), a bad line at `bad_at`
/// (a share of the lines) when given.
fn large_json(bad_at: Option<f64>) -> Vec<u8> {
    let mut dump = large_lines();
    if let Some(share) = bad_at {
        let at = (dump.len() as f64 * share) as usize;
        let line_start = dump[..at].iter().rposition(|b| *b == b'\n').unwrap() + 1;
        dump.insert(line_start + 1, b'@');
    }
    dump
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_binary_streams_a_large_file_to_a_file_and_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let dump = large_json(None);
    let input = dir.path().join("big.jsonl");
    std::fs::write(&input, &dump).unwrap();
    let expected = whole(&dump, InputFormat::Json);
    let output = dir.path().join("out.jsonl");
    let run = spanlint(&[
        "migrate",
        "-o",
        output.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read(&output).unwrap() == expected, "-o FILE");
    assert!(stderr(&run).contains("span(s) changed in 1 of 1 file(s)"));
    let run = spanlint(&["migrate", input.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(run.stdout == expected, "standard output");
    assert_eq!(files_in(dir.path()), ["big.jsonl", "out.jsonl"]);
}

#[test]
fn a_failure_in_a_late_chunk_leaves_no_output_and_the_original_intact() {
    let dir = tempfile::tempdir().unwrap();
    let dump = large_json(Some(0.95));
    let input = dir.path().join("big.jsonl");
    std::fs::write(&input, &dump).unwrap();

    let run = spanlint(&["migrate", "--in-place", input.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("not rewritten (parse errors)"),
        "{}",
        stderr(&run)
    );
    assert!(
        std::fs::read(&input).unwrap() == dump,
        "the original is byte-identical"
    );

    let output = dir.path().join("out.jsonl");
    let run = spanlint(&[
        "migrate",
        "-o",
        output.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(!output.exists(), "no partial output");

    let run = spanlint(&["migrate", input.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stdout.is_empty(), "nothing on standard output");
    assert_eq!(
        files_in(dir.path()),
        ["big.jsonl"],
        "no temporary file left"
    );
}

#[test]
fn streamed_coverage_is_the_whole_file_coverage() {
    use spanlint::commands::coverage::{Totals, stream_facts};
    use spanlint::coverage::{self, render};
    let rules = Ruleset::builtin();
    let report = |totals: Totals| {
        assert!(totals.errors.is_empty());
        let (settled, health) = totals.tally.finish(&rules).unwrap();
        render::json(&settled.report(health, None))
    };
    for (dump, format) in [
        (json_lines(2, "\r\n"), InputFormat::Json),
        (proto_stream(2), InputFormat::Proto),
    ] {
        let file = LoadedFile::from_bytes("dump", dump.clone(), format).unwrap();
        let mut whole = Totals::default();
        whole.add(coverage::piece_facts(file.piece(), &rules), 0);
        let expected = report(whole);
        assert!(expected.contains("\"genai_spans\""));
        for size in [1, 3000, 1 << 20] {
            let chunker =
                Chunker::new("dump", Cursor::new(dump.clone()), format, Limits::default())
                    .with_chunk_size(size);
            let mut streamed = Totals::default();
            stream_facts(chunker, &rules, &mut streamed, 0);
            assert_eq!(report(streamed), expected, "{format:?}, chunk size {size}");
        }
    }
}
