//! Entry points of the fuzz targets (`fuzz/`), here so that `tests/fuzz_regressions.rs` replays
//! the saved crashing inputs through exactly the code the fuzzers ran. Each takes arbitrary
//! bytes and must not panic, hang or overflow the stack; an `Err` is a fine outcome.

use std::path::Path;
use std::sync::OnceLock;

use crate::input::{self, InputFormat, Limits, LoadedFile};
use crate::migrate::mapping::MappingFile;
use crate::migrate::{Migrator, Options};
use crate::rules::Ruleset;

/// Small limits, so the fuzzers do not spend their time on huge allocations.
const LIMITS: Limits = Limits {
    max_message_size: 1 << 20,
    max_input_size: 4 << 20,
};

fn rules() -> &'static Ruleset {
    static RULES: OnceLock<Ruleset> = OnceLock::new();
    RULES.get_or_init(Ruleset::builtin)
}

fn migrator() -> &'static Migrator {
    static MIGRATOR: OnceLock<Migrator> = OnceLock::new();
    MIGRATOR.get_or_init(|| {
        Migrator::new(
            Ruleset::builtin(),
            MappingFile::builtin(),
            Options::default(),
        )
        .expect("the built-in migrator is valid")
    })
}

/// Reads every message and checks every span, as `spanlint check` does.
fn read_and_check(file: &LoadedFile) {
    let report = crate::check::check_file(file, rules());
    let mut files = vec![report];
    crate::check::check_traces(&mut files, rules());
}

fn loaded(data: &[u8], format: InputFormat) -> Option<LoadedFile> {
    let mut file = LoadedFile::from_bytes("fuzz", data.to_vec(), format).ok()?;
    file.limits = LIMITS;
    Some(file)
}

/// The OTLP/JSON reader, the checks, and the span layouts `migrate` uses: the ones the reader
/// records are the layout pass's.
pub fn json(data: &[u8]) {
    if let Some(file) = loaded(data, InputFormat::Json) {
        read_and_check(&file);
        if let Some(text) = file.text() {
            let passed = input::json::span_layouts(text);
            if let (Ok((_, recorded)), Ok(passed)) = (file.piece().batches_and_layouts(), passed) {
                let all = |layouts: &input::json::SpanLayouts| {
                    (0..layouts.len())
                        .map(|i| format!("{:?}", layouts.span(i)))
                        .collect::<Vec<_>>()
                };
                assert_eq!(all(&recorded), all(&passed), "recorded span layouts");
            }
        }
    }
}

/// The protobuf reader (one message, or a stream when the bytes start with a 0), and the
/// one-pass decoder against the reference decoder on each message.
pub fn proto(data: &[u8]) {
    for message in proto_messages(data) {
        decoders_agree(message);
    }
    if let Some(file) = loaded(data, InputFormat::Proto) {
        read_and_check(&file);
    }
}

/// The messages the protobuf reader decodes in `data`.
fn proto_messages(data: &[u8]) -> Vec<&[u8]> {
    if !input::proto::is_length_prefixed(data) {
        return vec![data];
    }
    let mut messages = Vec::new();
    let mut pos = 0;
    while let Ok(Some(frame)) = input::wire::frame_at(data, pos) {
        pos = frame.offset + frame.data.len();
        messages.push(frame.data);
    }
    messages
}

/// The one-pass decoder accepts exactly the messages the reference decoder accepts, with the
/// same model (compared as debug text, so NaN doubles compare equal).
fn decoders_agree(message: &[u8]) {
    let one_pass = input::proto::decode::decode_request(message, 0);
    let reference = input::proto::reference::decode_message(message, 0);
    match (&one_pass, &reference) {
        (Ok(a), Ok(b)) => assert!(
            format!("{a:?}") == format!("{b:?}"),
            "the decoders disagree on the model:\n{a:?}\n{b:?}"
        ),
        (Err(_), Err(_)) => {}
        _ => panic!("the decoders disagree: one pass {one_pass:?}, reference {reference:?}"),
    }
}

/// The protobuf reader on a length-prefixed stream of the `0xff`-separated parts of `data`.
pub fn proto_stream(data: &[u8]) {
    let messages: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    proto(&input::wire::join_frames(&messages));
}

/// Decompression, format detection and reading, as [`input::load`] does them.
pub fn compressed(data: &[u8]) {
    let Ok((content, _)) = input::decompress::decompress("fuzz", data.to_vec(), &LIMITS) else {
        return;
    };
    let Ok(format) = input::detect::detect("fuzz", content.sample(), None) else {
        return;
    };
    if let Some(file) = loaded(&content.into_bytes(format), format) {
        read_and_check(&file);
    }
}

/// The rules-file parser and the ruleset compiler.
pub fn rules_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = crate::rules::rulesfile::RulesFile::parse(text) {
        let _ = Ruleset::new(file);
    }
}

/// The `spanlint.toml` parser and validation (the rules files it names are not read).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::config::Config::parse(Path::new("spanlint.toml"), text.to_string());
}

/// `migrate` on JSON (first byte even) or protobuf (odd): must not panic, its output must read
/// back, and a second run must change nothing.
pub fn migrate(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = if selector % 2 == 0 {
        InputFormat::Json
    } else {
        InputFormat::Proto
    };
    let Some(file) = loaded(rest, format) else {
        return;
    };
    let Ok(once) = crate::migrate::migrate_file(&file, migrator()) else {
        return;
    };
    let again = LoadedFile::from_bytes("fuzz", once.content.clone(), format)
        .expect("migrate writes what it read");
    let twice =
        crate::migrate::migrate_file(&again, migrator()).expect("the output of migrate reads back");
    assert!(
        !twice.plans.iter().any(|p| p.changed),
        "a second migration changed {:?}",
        twice.plans
    );
    assert!(twice.content == once.content, "migrate is not idempotent");
}
