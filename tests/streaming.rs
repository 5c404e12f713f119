//! Streaming input: a large dump read in chunks gives exactly what reading it whole gives
//! (findings, positions, snippets, errors), chunks are cut only between messages, and the
//! chunker holds a bounded number of bytes whatever the size of the stream.

mod common;

use std::io::{Cursor, Write};

use spanlint::check::{self, CheckOptions, FileReport};
use spanlint::input::{
    self, Chunk, ChunkData, Chunker, InputFormat, Limits, LoadedFile, Opened, Source, wire,
};
use spanlint::rules::Ruleset;

fn rules() -> Ruleset {
    Ruleset::builtin()
}

/// Every real JSON-lines fixture, one line each, in a fixed order.
fn real_lines() -> Vec<String> {
    let paths = common::real_fixtures("jsonl");
    paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn real_messages() -> Vec<Vec<u8>> {
    let paths = common::real_fixtures("pb");
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn chunks(data: &[u8], format: InputFormat, size: usize) -> Vec<Chunk> {
    Chunker::new(
        "dump",
        Cursor::new(data.to_vec()),
        format,
        Limits::default(),
    )
    .with_chunk_size(size)
    .map(|c| c.expect("no read error"))
    .collect()
}

fn text(chunk: &Chunk) -> &str {
    match &chunk.data {
        ChunkData::Text(text) => text,
        ChunkData::Binary(_) => panic!("a JSON chunk is text"),
    }
}

/// What a report says, comparable between two reports of the same content.
fn summary(report: &FileReport) -> (Vec<String>, Vec<String>, usize, usize) {
    let findings = report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {:?} {:?} {}",
                f.finding.rule, f.finding.offset, f.position, f.snippet, f.finding.message
            )
        })
        .collect();
    let errors = report.errors.iter().map(|e| format!("{e:?}")).collect();
    (findings, errors, report.spans, report.genai_spans)
}

fn whole(data: &[u8], format: InputFormat) -> FileReport {
    let file = LoadedFile::from_bytes("dump", data.to_vec(), format).unwrap();
    let mut files = vec![check::check_file(&file, &rules())];
    check::check_traces(&mut files, &rules());
    files.pop().unwrap()
}

fn streamed(data: &[u8], format: InputFormat, size: usize) -> FileReport {
    let chunker = Chunker::new(
        "dump",
        Cursor::new(data.to_vec()),
        format,
        Limits::default(),
    )
    .with_chunk_size(size);
    let mut files = vec![check::check_stream(
        chunker,
        &rules(),
        CheckOptions::default(),
    )];
    check::check_traces(&mut files, &rules());
    files.pop().unwrap()
}

#[test]
fn json_lines_are_cut_between_lines_and_keep_their_file_positions() {
    let lines = real_lines();
    let dump = format!("{}\n", lines.join("\n"));
    let chunks = chunks(dump.as_bytes(), InputFormat::Json, 1000);
    assert!(
        chunks.len() > 3,
        "small chunks cut the dump: {}",
        chunks.len()
    );
    let mut offset = 0;
    let mut line = 0;
    for chunk in &chunks {
        assert_eq!(chunk.offset, offset);
        assert_eq!(chunk.line, line);
        assert!(text(chunk).ends_with("}\n"), "cut at the end of a line");
        assert!(dump[offset..].starts_with(text(chunk)));
        offset += chunk.len();
        line += text(chunk).matches('\n').count();
    }
    assert_eq!(offset, dump.len(), "nothing lost");
}

#[test]
fn streamed_json_lines_give_the_findings_and_errors_of_the_whole_file() {
    let mut lines = real_lines();
    // A broken line in the middle and one truncated at the end.
    lines.insert(
        5,
        r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 7}]}]}]}"#.into(),
    );
    let last = lines[0][..lines[0].len() / 2].to_string();
    lines.push(last);
    let dump = lines.join("\n");
    let expected = summary(&whole(dump.as_bytes(), InputFormat::Json));
    assert!(!expected.0.is_empty() && expected.1.len() == 2);
    for size in [1, 500, 4096, 1 << 20] {
        let got = summary(&streamed(dump.as_bytes(), InputFormat::Json, size));
        assert_eq!(got, expected, "chunk size {size}");
    }
}

#[test]
fn crlf_lines_and_a_line_ending_exactly_at_the_chunk_size() {
    let lines = real_lines();
    let first = format!("{}\r\n", lines[0]);
    let dump = format!("{first}{}\r\n{}", lines[1], lines[2]);
    // The first chunk is exactly the first line, its CRLF included.
    let chunks = chunks(dump.as_bytes(), InputFormat::Json, first.len());
    assert_eq!(text(&chunks[0]), first);
    assert_eq!(chunks[1].line, 1);
    assert_eq!(
        summary(&streamed(dump.as_bytes(), InputFormat::Json, first.len())),
        summary(&whole(dump.as_bytes(), InputFormat::Json))
    );
}

#[test]
fn a_pretty_printed_document_is_never_cut() {
    let line = &real_lines()[0];
    let doc: serde_json::Value = serde_json::from_str(line).unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    let dump = format!("{pretty}\n{pretty}\n");
    let chunks = chunks(dump.as_bytes(), InputFormat::Json, 10);
    assert_eq!(chunks.len(), 2, "one chunk per document");
    assert_eq!(text(&chunks[0]), format!("{pretty}\n"));
    assert_eq!(
        summary(&streamed(dump.as_bytes(), InputFormat::Json, 10)),
        summary(&whole(dump.as_bytes(), InputFormat::Json))
    );
}

#[test]
fn invalid_utf8_in_a_middle_line_is_reported_and_the_rest_is_read() {
    let lines = real_lines();
    let mut dump = format!("{}\n{}\n", lines[0], lines[1]).into_bytes();
    let bad_at = dump.len() + 20;
    let mut bad = lines[2].clone().into_bytes();
    bad[20] = 0xff;
    dump.extend_from_slice(&bad);
    dump.extend_from_slice(format!("\n{}\n", lines[3]).as_bytes());
    let report = streamed(&dump, InputFormat::Json, 100);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(
        report.errors[0].to_string(),
        format!("dump: byte {bad_at}: invalid UTF-8 in a JSON dump")
    );
    let without_bad = format!("{}\n{}\n\n{}\n", lines[0], lines[1], lines[3]);
    assert_eq!(
        report.spans,
        whole(without_bad.as_bytes(), InputFormat::Json).spans
    );
}

#[test]
fn protobuf_streams_are_cut_between_frames_and_read_as_whole() {
    let messages = real_messages();
    let stream = wire::join_frames(&messages);
    let chunks = chunks(&stream, InputFormat::Proto, 3000);
    assert!(chunks.len() > 2);
    let mut offset = 0;
    for chunk in &chunks {
        assert_eq!(chunk.offset, offset);
        let ChunkData::Binary(data) = &chunk.data else {
            panic!("binary")
        };
        assert!(wire::exact_frames(data).is_some(), "whole frames");
        offset += data.len();
    }
    assert_eq!(offset, stream.len());
    for size in [1, 3000, 1 << 20] {
        assert_eq!(
            summary(&streamed(&stream, InputFormat::Proto, size)),
            summary(&whole(&stream, InputFormat::Proto)),
            "chunk size {size}"
        );
    }
}

#[test]
fn a_truncated_last_frame_is_reported_at_its_byte() {
    let messages = real_messages();
    let stream = wire::join_frames(&messages);
    let cut = &stream[..stream.len() - 10];
    let report = streamed(cut, InputFormat::Proto, 2000);
    assert_eq!(report.errors.len(), 1);
    let last_frame = stream.len() - messages.last().unwrap().len() - 4;
    assert_eq!(
        report.errors[0].position(),
        Some(input::Position::Byte(last_frame))
    );
    assert_eq!(report.spans, whole(cut, InputFormat::Proto).spans);
}

#[test]
fn an_oversized_frame_is_skipped_without_being_held_and_reading_goes_on() {
    let messages = real_messages();
    let big = vec![0x0a; 50_000];
    let stream = wire::join_frames(&[&messages[0][..], &big[..], &messages[1][..]]);
    let limits = Limits {
        max_message_size: 20_000,
        ..Limits::default()
    };
    let mut chunker =
        Chunker::new("dump", Cursor::new(stream), InputFormat::Proto, limits).with_chunk_size(100);
    let mut results = Vec::new();
    for item in chunker.by_ref() {
        results.push(item.map(|c| c.offset));
    }
    assert_eq!(results.len(), 3, "{results:?}");
    let at = messages[0].len() + 4;
    assert_eq!(results[0].as_ref().unwrap(), &0);
    assert_eq!(
        results[1].as_ref().unwrap_err().position(),
        Some(input::Position::Byte(at))
    );
    assert_eq!(results[2].as_ref().unwrap(), &(at + 4 + big.len()));
}

#[test]
fn the_chunker_holds_a_bounded_number_of_bytes() {
    let lines = real_lines();
    let mut dump = String::new();
    while dump.len() < 2_000_000 {
        for line in &lines {
            dump.push_str(line);
            dump.push('\n');
        }
    }
    let longest = lines.iter().map(String::len).max().unwrap();
    let size = 10_000;
    let mut chunker = Chunker::new(
        "dump",
        Cursor::new(dump.clone().into_bytes()),
        InputFormat::Json,
        Limits::default(),
    )
    .with_chunk_size(size);
    let mut total = 0;
    while let Some(chunk) = chunker.next() {
        let chunk = chunk.unwrap();
        total += chunk.len();
        assert!(
            chunk.len() <= 2 * size + longest,
            "chunk of {}",
            chunk.len()
        );
        assert!(chunker.buffered() <= 2 * size + longest);
    }
    assert_eq!(total, dump.len());
}

/// A reader that gives at most `step` bytes a read, as a pipe or a decompressor may.
struct Trickle {
    data: Cursor<Vec<u8>>,
    step: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(self.step);
        std::io::Read::read(&mut self.data, &mut out[..n])
    }
}

/// Each chunk's offset, line and bytes, read through a trickling reader with every chunk's
/// buffer given back (`recycle`) or not.
fn cut_recycling(
    data: &[u8],
    format: InputFormat,
    size: usize,
    step: usize,
    recycle: bool,
) -> Vec<(usize, usize, Vec<u8>)> {
    let reader = Trickle {
        data: Cursor::new(data.to_vec()),
        step,
    };
    let mut chunker = Chunker::new("dump", reader, format, Limits::default()).with_chunk_size(size);
    let mut cut = Vec::new();
    while let Some(chunk) = chunker.next() {
        let chunk = chunk.expect("no read error");
        let bytes = match &chunk.data {
            ChunkData::Text(text) => text.as_bytes().to_vec(),
            ChunkData::Binary(bytes) => bytes.clone(),
        };
        cut.push((chunk.offset, chunk.line, bytes));
        if recycle {
            chunker.recycle(chunk.data);
        }
    }
    cut
}

#[test]
fn recycled_buffers_longer_or_shorter_than_the_next_chunk_hold_only_the_new_bytes() {
    // Lines of very different lengths, so a recycled buffer holds more old bytes than the next
    // chunk has (stale room to be written over) or fewer (room to be added).
    let lines = real_lines();
    let mut dump = String::new();
    for (i, line) in lines.iter().cycle().take(3 * lines.len()).enumerate() {
        dump.push_str(line);
        dump.push('\n');
        if i % 3 == 0 {
            dump.push_str(&"\n".repeat(i * 97 % 5_000));
        }
    }
    let messages = real_messages();
    let repeated: Vec<_> = messages.iter().cycle().take(3 * messages.len()).collect();
    let stream = wire::join_frames(&repeated);
    for (data, format) in [
        (dump.as_bytes(), InputFormat::Json),
        (&stream[..], InputFormat::Proto),
    ] {
        for (size, step) in [(3_000, 1 << 20), (3_000, 777), (20_000, 5_000), (1, 64)] {
            let fresh = cut_recycling(data, format, size, step, false);
            let recycled = cut_recycling(data, format, size, step, true);
            assert!(recycled.len() > 2, "{format:?}: {} chunks", recycled.len());
            // Each chunk holds exactly its part of the stream, whatever the buffer held before.
            let mut at = 0;
            for (offset, line, bytes) in &recycled {
                assert_eq!(*offset, at, "{format:?} {size} {step}");
                assert!(
                    bytes[..] == data[at..at + bytes.len()],
                    "{format:?} {size} {step}: chunk at {at}"
                );
                if format == InputFormat::Json {
                    let lines_before = data[..at].iter().filter(|&&b| b == b'\n').count();
                    assert_eq!(*line, lines_before, "{format:?} {size} {step}");
                }
                at += bytes.len();
            }
            assert_eq!(
                at,
                data.len(),
                "{format:?} {size} {step}: the chunks are the stream"
            );
            // Protobuf is cut after the frame that reaches the chunk size, however much was
            // read ahead; JSON at the last line end read, which depends on the room.
            if format == InputFormat::Proto {
                assert!(fresh == recycled, "{format:?} {size} {step}");
            }
        }
    }
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A JSON-lines dump larger than the streaming threshold by `extra` bytes.
fn large_dump(extra: usize) -> String {
    let lines = real_lines();
    let mut dump = String::new();
    while dump.len() <= input::stream::STREAM_THRESHOLD + extra {
        for line in &lines {
            dump.push_str(line);
            dump.push('\n');
        }
    }
    dump
}

#[test]
fn large_files_compressed_or_not_are_streamed_with_the_findings_of_a_whole_read() {
    let dump = large_dump(100_000);
    let expected = summary(&whole(dump.as_bytes(), InputFormat::Json));
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("dump.jsonl", dump.as_bytes().to_vec()),
        ("dump.jsonl.zst", zstd(dump.as_bytes())),
        ("dump.jsonl.gz", gzip(dump.as_bytes())),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let opened = input::open(&Source::Path(path), None, &Limits::default()).unwrap();
        let Opened::Stream(chunker) = opened else {
            panic!("{name} is streamed")
        };
        let mut files = vec![check::check_stream(
            chunker,
            &rules(),
            CheckOptions::default(),
        )];
        check::check_traces(&mut files, &rules());
        let mut got = summary(&files[0]);
        // The whole-read report is named "dump".
        got.1.iter_mut().for_each(|e| *e = e.replace(name, "dump"));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn a_corrupt_compressed_stream_keeps_what_was_read_and_reports_the_error() {
    let dump = large_dump(input::stream::STREAM_THRESHOLD / 2);
    let mut compressed = zstd(dump.as_bytes());
    let len = compressed.len();
    // The data repeats, so the last blocks are small: cut into the last one.
    compressed.truncate(len - 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.jsonl.zst");
    std::fs::write(&path, compressed).unwrap();
    let Opened::Stream(chunker) =
        input::open(&Source::Path(path), None, &Limits::default()).unwrap()
    else {
        panic!("streamed")
    };
    let report = check::check_stream(chunker, &rules(), CheckOptions::default());
    assert!(report.spans > 0, "the part before the damage is checked");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.to_string().contains("cannot decompress (zstd)")),
        "{:?}",
        report.errors
    );
}

#[test]
fn small_files_are_still_loaded_whole() {
    let opened = input::open(
        &Source::Path("fixtures/real/openai-v2-chat.jsonl".into()),
        None,
        &Limits::default(),
    )
    .unwrap();
    assert!(matches!(opened, Opened::Whole(_)));
}

/// The `jsonl` report against the `json` one (both written while the files are checked, one
/// line or one array element at a time), end to end on a streamed file next to a small one:
/// the same findings (span-level ones first, in argument and file order, then the trace-level
/// ones) and the same summary; and a baseline applies to the streamed findings as they pass.
#[test]
fn streamed_report_has_the_findings_of_the_whole_report_and_honours_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("large.jsonl");
    std::fs::write(&large, large_dump(10_000)).unwrap();
    let small = dir.path().join("small.jsonl");
    std::fs::write(&small, real_lines().join("\n")).unwrap();
    let paths = [large.to_str().unwrap(), small.to_str().unwrap()];
    let run = |extra: &[&str]| {
        let mut args = vec!["check", "--fail-on", "never"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&paths);
        common::stdout(&common::spanlint(&args))
    };

    let whole: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    let is_trace_rule = |f: &serde_json::Value| {
        spanlint::rules::TRACE_RULES
            .iter()
            .any(|rule| f["rule"] == rule.info.id)
    };
    let (trace, span): (Vec<_>, Vec<_>) = whole["findings"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .partition(is_trace_rule);
    assert!(!trace.is_empty() && span.len() > 1000, "{}", span.len());
    let expected: Vec<_> = span.into_iter().chain(trace).collect();

    let lines: Vec<serde_json::Value> = run(&["--format", "jsonl"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let (summary, findings) = lines.split_last().unwrap();
    let findings: Vec<_> = findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("type");
            f
        })
        .collect();
    assert_eq!(findings, expected);
    let mut summary = summary.clone();
    let object = summary.as_object_mut().unwrap();
    object.remove("type");
    object.remove("version");
    let mut whole_summary = whole["summary"].clone();
    whole_summary.as_object_mut().unwrap().remove("version");
    assert_eq!(summary, whole_summary);
    assert_eq!(summary["input_errors"], 0, "both files read: {summary}");

    let baseline = dir.path().join("baseline.toml");
    run(&["--write-baseline", baseline.to_str().unwrap()]);
    let lines = run(&[
        "--format",
        "jsonl",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    let summary: serde_json::Value = serde_json::from_str(lines.trim_end()).unwrap();
    assert_eq!(
        summary["type"], "summary",
        "only the summary is left: {lines}"
    );
    assert_eq!(
        (&summary["errors"], &summary["warnings"], &summary["infos"]),
        (&0.into(), &0.into(), &0.into())
    );
}
