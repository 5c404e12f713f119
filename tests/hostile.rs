//! Hostile inputs, end to end (issue 7): each runs the built binary with a timeout and checks
//! exit 2, a message naming the file and the position, no panic, and that a good file given
//! alongside is still checked. Cases already covered in `tests/cli.rs` (truncated JSON and
//! protobuf, random bytes, empty files) are not repeated here.
//!
//! Also: `--max-message-size` / `--max-input-size` and decompression bombs, directory walks
//! over symlink loops and FIFOs, `migrate` writing to full disks, devices and FIFOs, and
//! terminal output that a dump must not be able to control.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

const GOOD: &str = "fixtures/real/openai-v2-chat.jsonl";
const LEGACY: &str = "fixtures/real/openllmetry-legacy-chat.jsonl";

/// Runs `spanlint`; a run that hangs fails the test after 60 seconds instead of hanging it.
fn spanlint(args: &[&str]) -> Output {
    Command::cargo_bin("spanlint")
        .expect("the spanlint binary is built")
        .args(args)
        .env("COLUMNS", "400")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .write_stdin(Vec::new())
        .timeout(Duration::from_secs(60))
        .output()
        .expect("spanlint runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Checks `bad` next to a good dump: exit 2, stderr contains each of `expected`, no panic, and
/// the good file's findings are still reported.
fn assert_bad_input(bad: &str, extra: &[&str], expected: &[&str]) {
    assert_bad_input_next_to(bad, extra, expected, GOOD);
}

/// A good dump small enough for tiny limits (a few hundred bytes), with findings.
fn tiny_good(dir: &Path) -> String {
    let text = doc(
        "\"chat\"",
        r#"[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}}]"#,
    );
    assert!(text.len() < 300, "{}", text.len());
    write(dir, "tiny-good.jsonl", text.as_bytes())
}

fn assert_bad_input_next_to(bad: &str, extra: &[&str], expected: &[&str], good: &str) {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[bad, good]);
    let output = spanlint(&args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{bad}: {err}");
    assert!(!err.contains("panicked"), "{bad}: {err}");
    for e in expected {
        assert!(err.contains(e), "{bad}: expected `{e}` in: {err}");
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let good = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"] == good)
        .count();
    assert!(good > 0, "{bad}: the good file is still checked");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// One GenAI span with the given attributes JSON (a `[...]` array) and name.
fn doc(name: &str, attributes: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":{name},"kind":3,"attributes":{attributes}}}]}}]}}]}}"#
    )
}

// ---------------------------------------------------------------------------------------------
// Malformed content

#[test]
fn a_json_file_read_as_proto_and_a_proto_file_read_as_json() {
    assert_bad_input(
        "fixtures/real/openai-v2-chat.pb",
        &["--input-format", "json"],
        &["openai-v2-chat.pb: byte "],
    );
    // The good file is JSON too, so the override makes it fail as well: check the JSON file
    // alone, with a good protobuf file.
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "--input-format",
        "proto",
        "fixtures/real/openai-v2-error.jsonl",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("openai-v2-error.jsonl: byte ") && err.contains("invalid OTLP protobuf"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn invalid_utf8_inside_a_string() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = doc("\"chat gpt-4\"", "[]").into_bytes();
    let at = bytes.windows(3).position(|w| w == b"gpt").unwrap();
    bytes[at] = 0xff;
    let bad = write(dir.path(), "bad-utf8.jsonl", &bytes);
    assert_bad_input(
        &bad,
        &[],
        &[&format!("bad-utf8.jsonl: byte {at}: invalid UTF-8")],
    );
}

#[test]
fn wrong_types_for_known_fields() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("name-number", doc("5", "[]")),
        ("attributes-string", doc("\"x\"", "\"nope\"")),
        ("value-array", doc("\"x\"", r#"[{"key":"k","value":[1]}]"#)),
        (
            "int-bool",
            doc("\"x\"", r#"[{"key":"k","value":{"intValue":true}}]"#),
        ),
        (
            "spans-object",
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}"#.to_string(),
        ),
    ];
    for (name, text) in cases {
        let file = format!("{name}.jsonl");
        let bad = write(dir.path(), &file, text.as_bytes());
        assert_bad_input(&bad, &[], &[&format!("{file}:1:"), "invalid OTLP/JSON"]);
    }
}

const DEPTH: usize = 100_000;

#[test]
fn json_any_value_nested_100000_levels() {
    let dir = tempfile::tempdir().unwrap();
    let mut value = String::with_capacity(DEPTH * 30);
    for _ in 0..DEPTH {
        value.push_str(r#"{"arrayValue":{"values":["#);
    }
    value.push_str(r#"{"stringValue":"x"}"#);
    for _ in 0..DEPTH {
        value.push_str("]}}");
    }
    let text = doc("\"x\"", &format!(r#"[{{"key":"k","value":{value}}}]"#));
    let bad = write(dir.path(), "deep.jsonl", text.as_bytes());
    assert_bad_input(&bad, &[], &["deep.jsonl:1:", "recursion limit"]);
}

/// Appends `payload` as field `number` (length-delimited) to a protobuf being built back to
/// front: `rev` holds the message reversed.
fn push_len(rev: &mut Vec<u8>, number: u8, payload_len: usize) {
    let mut len = payload_len;
    let mut varint = Vec::new();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            varint.push(byte);
            break;
        }
        varint.push(byte | 0x80);
    }
    rev.extend(varint.iter().rev());
    rev.push(number << 3 | 2);
}

/// Wraps everything built so far as field `number` of an enclosing message.
fn wrap(rev: &mut Vec<u8>, number: u8) {
    let len = rev.len();
    push_len(rev, number, len);
}

fn push_bytes(rev: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    rev.extend(bytes.iter().rev());
    push_len(rev, number, bytes.len());
}

/// An ExportTraceServiceRequest with one span whose one attribute nests `depth` arrays.
fn deep_proto(depth: usize) -> Vec<u8> {
    let mut rev = Vec::new();
    push_bytes(&mut rev, 1, b"x"); // AnyValue.string_value
    for _ in 0..depth {
        wrap(&mut rev, 1); // ArrayValue.values
        wrap(&mut rev, 5); // AnyValue.array_value
    }
    wrap(&mut rev, 2); // KeyValue.value
    push_bytes(&mut rev, 1, b"k"); // KeyValue.key
    wrap(&mut rev, 9); // Span.attributes
    push_bytes(&mut rev, 5, b"x"); // Span.name
    push_bytes(&mut rev, 2, &[1; 8]); // Span.span_id
    push_bytes(&mut rev, 1, &[1; 16]); // Span.trace_id
    wrap(&mut rev, 2); // ScopeSpans.spans
    wrap(&mut rev, 2); // ResourceSpans.scope_spans
    wrap(&mut rev, 1); // ExportTraceServiceRequest.resource_spans
    rev.reverse();
    rev
}

#[test]
fn protobuf_any_value_nested_100000_levels() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "deep.pb", &deep_proto(DEPTH));
    assert_bad_input(&bad, &[], &["deep.pb: byte ", "recursion limit"]);
}

// ---------------------------------------------------------------------------------------------
// Size limits and decompression bombs

#[test]
fn a_line_larger_than_the_limit_is_skipped_and_the_next_line_read() {
    let dir = tempfile::tempdir().unwrap();
    let small = doc("\"chat gpt-4\"", "[]");
    let big = doc(&format!("\"{}\"", "a".repeat(5000)), "[]");
    let text = format!("{small}\n{big}\n{small}\n");
    let bad = write(dir.path(), "long-line.jsonl", text.as_bytes());
    assert_bad_input(
        &bad,
        &["--max-message-size", "4KiB"],
        &[
            "long-line.jsonl:2:1",
            "exceeds the limit of 4096 bytes (--max-message-size)",
        ],
    );
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "--max-message-size",
        "4KiB",
        &bad,
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["summary"]["spans"], 2,
        "the lines around it are read"
    );
    // A pretty-printed document is measured as a whole.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&big).unwrap())
            .unwrap();
    let bad = write(dir.path(), "pretty.json", pretty.as_bytes());
    assert_bad_input(
        &bad,
        &["--max-message-size", "4KiB"],
        &["pretty.json:1:1", "a JSON document of"],
    );
}

#[test]
fn a_protobuf_message_larger_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let message = std::fs::read("fixtures/real/openai-v2-chat.pb").unwrap();
    let bad = write(dir.path(), "big.pb", &message);
    assert!(message.len() > 300);
    assert_bad_input_next_to(
        &bad,
        &["--max-message-size", "300"],
        &["big.pb: byte 0: invalid OTLP protobuf: a protobuf message of"],
        &tiny_good(dir.path()),
    );
    // In a length-prefixed stream the frames after the big one are still read.
    let mut stream = Vec::new();
    for m in [&message[..], &[0u8; 0][..], &message[..]] {
        stream.extend_from_slice(&(m.len() as u32).to_be_bytes());
        stream.extend_from_slice(m);
    }
    let limit = message.len().to_string();
    let bad = write(dir.path(), "stream.binpb", &stream);
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "--max-message-size",
        &limit,
        &bad,
    ]);
    assert_ne!(output.status.code(), Some(2), "{}", stderr(&output));
    let limit = (message.len() - 1).to_string();
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "--max-message-size",
        &limit,
        &bad,
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("stream.binpb: byte 0:"), "{err}");
    assert!(
        err.contains(&format!("stream.binpb: byte {}:", 8 + message.len())),
        "the third frame is reported too, so reading went on: {err}"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Compressed bombs: a few kilobytes that expand to 256 MiB of newlines or zeros. The limit
/// stops decompression long before, so these run in moments and little memory.
#[test]
fn gzip_and_zstd_bombs_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = vec![b'\n'; 1 << 20];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut zs = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    for _ in 0..256 {
        gz.write_all(&chunk).unwrap();
        zs.write_all(&chunk).unwrap();
    }
    let gz = gz.finish().unwrap();
    let zs = zs.finish().unwrap();
    assert!(gz.len() < 1 << 20 && zs.len() < 1 << 20);
    let gz_path = write(dir.path(), "bomb.jsonl.gz", &gz);
    let zs_path = write(dir.path(), "bomb.jsonl.zst", &zs);
    for (path, codec) in [(&gz_path, "gzip"), (&zs_path, "zstd")] {
        let name = Path::new(path).file_name().unwrap().to_str().unwrap();
        assert_bad_input(
            path,
            &["--max-input-size", "16MiB"],
            &[&format!(
                "{name}: byte 0: the {codec} content (decompressed) exceeds the limit of \
                 16777216 bytes (--max-input-size)"
            )],
        );
    }
    // One frame per message: each message is bounded by --max-message-size.
    let frame = zstd::encode_all(&vec![b' '; 10 << 20][..], 19).unwrap();
    let mut framed = Vec::new();
    for data in [zstd::encode_all(b"{}".as_slice(), 0).unwrap(), frame] {
        framed.extend_from_slice(&(data.len() as u32).to_be_bytes());
        framed.extend_from_slice(&data);
    }
    let small = zstd::encode_all(b"{}".as_slice(), 0).unwrap();
    let at = 4 + small.len();
    let path = write(dir.path(), "framed.jsonl.zst", &framed);
    assert_bad_input(
        &path,
        &["--max-message-size", "1MiB"],
        &[&format!(
            "framed.jsonl.zst: byte {at}: message 2 (zstd, decompressed) exceeds the limit of \
             1048576 bytes (--max-message-size)"
        )],
    );
    // Concatenated gzip members are bounded together.
    let mut members = gzip(&vec![b'\n'; 3 << 20]);
    members.extend(gzip(&vec![b'\n'; 3 << 20]));
    let path = write(dir.path(), "members.jsonl.gz", &members);
    assert_bad_input(
        &path,
        &["--max-input-size", "5MiB"],
        &["members.jsonl.gz: byte 0: the gzip content"],
    );
}

#[test]
fn an_uncompressed_file_larger_than_the_input_limit() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}\n", doc("\"x\"", "[]")).repeat(100);
    let bad = write(dir.path(), "big.jsonl", text.as_bytes());
    assert_bad_input_next_to(
        &bad,
        &["--max-input-size", "1KiB"],
        &["big.jsonl: byte 1024: the file exceeds the limit of 1024 bytes (--max-input-size)"],
        &tiny_good(dir.path()),
    );
}

#[test]
fn sizes_accept_units_and_reject_nonsense() {
    let output = spanlint(&["check", "--max-message-size", "12parsecs", GOOD]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown size unit"),
        "{}",
        stderr(&output)
    );
    let output = spanlint(&["check", "--max-message-size", "1GiB", GOOD]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

// ---------------------------------------------------------------------------------------------
// The file system

#[test]
fn a_directory_with_a_symlink_loop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dumps");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::copy(GOOD, root.join("sub/good.jsonl")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("sub/loop")).unwrap();
    let root_arg = root.display().to_string();
    let output = spanlint(&["check", "--format", "json", &root_arg]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("loop"), "{err}");
    assert!(err.contains("sub/loop"), "names the link: {err}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["summary"]["spans"], 1,
        "the good file is checked once"
    );
}

#[test]
fn an_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.jsonl");
    std::fs::copy(GOOD, &path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        eprintln!("skipped chmod 000: running as root, which may read any file");
    } else {
        let p = path.display().to_string();
        assert_bad_input(&p, &[], &["secret.jsonl: Permission denied"]);
    }
    // A file that no one can read: /proc/self/mem (of spanlint) fails with an I/O error at
    // byte 0, as root too.
    if Path::new("/proc/self/mem").exists() {
        assert_bad_input("/proc/self/mem", &[], &["/proc/self/mem: "]);
    }
}

fn mkfifo(path: &Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn fifos_are_skipped_in_directories_and_read_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.jsonl");
    if !mkfifo(&fifo) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    std::fs::copy(GOOD, dir.path().join("good.jsonl")).unwrap();
    // In a directory walk the FIFO is skipped: nothing blocks on it.
    let root = dir.path().display().to_string();
    let output = spanlint(&["check", "--format", "json", &root]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["files"], 1);
    // Named on the command line, it is read like standard input, until its writer closes it.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(&std::fs::read(GOOD).unwrap()).unwrap();
        })
    };
    let name = fifo.display().to_string();
    let output = spanlint(&["check", "--format", "json", &name]);
    writer.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["spans"], 1);
}

// ---------------------------------------------------------------------------------------------
// migrate: no data loss

/// A legacy dump `copies` times over (every copy is migrated), so it is big enough to fill a
/// small disk.
fn legacy_dump(copies: usize) -> Vec<u8> {
    std::fs::read(LEGACY).unwrap().repeat(copies)
}

/// Files in `dir`, sorted, to show nothing was left behind.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
}

/// A small tmpfs mounted on a fresh directory, unmounted on drop; `None` when mounting is not
/// allowed (not root, or in a container without the capability).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_leaves_the_old_output_and_no_partial_file() {
    let Some(disk) = SmallDisk::mount("64k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and mount)");
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let input = write(src.path(), "legacy.jsonl", &legacy_dump(200));
    let out = disk.path().join("out.jsonl");
    std::fs::write(&out, b"the previous output\n").unwrap();
    let out_arg = out.display().to_string();
    let output = spanlint(&["migrate", &input, "-o", &out_arg]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("out.jsonl: cannot write"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous output\n");
    assert_eq!(
        listing(disk.path()),
        vec![out.clone()],
        "no temporary file left"
    );
}

#[test]
fn in_place_on_a_full_disk_keeps_the_original_byte_identical() {
    let Some(disk) = SmallDisk::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and mount)");
        return;
    };
    let original = legacy_dump(60);
    assert!(original.len() > 128 << 10, "{}", original.len());
    let input = write(disk.path(), "legacy.jsonl", &original);
    let output = spanlint(&["migrate", "--in-place", &input]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read(&input).unwrap(), original);
    assert_eq!(listing(disk.path()), vec![PathBuf::from(&input)]);
}

#[test]
fn output_into_a_device_or_fifo_writes_into_it_and_never_replaces_it() {
    // /dev/null stays the null device.
    let output = spanlint(&["migrate", LEGACY, "-o", "/dev/null"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
    // /dev/full: the write fails with an error, and the device is not replaced either.
    if Path::new("/dev/full").exists() {
        let output = spanlint(&["migrate", LEGACY, "-o", "/dev/full"]);
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr(&output).contains("/dev/full: cannot write"));
        let meta = std::fs::metadata("/dev/full").unwrap();
        assert!(meta.file_type().is_char_device(), "/dev/full was replaced");
    }
    // A FIFO gets the migrated dump through the pipe.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.jsonl");
    if !mkfifo(&fifo) {
        eprintln!("skipped the FIFO case: mkfifo is not available");
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let name = fifo.display().to_string();
    let output = spanlint(&["migrate", LEGACY, "-o", &name]);
    let received = reader.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let expected = spanlint(&["migrate", LEGACY]);
    assert_eq!(received, expected.stdout);
    assert_eq!(listing(dir.path()), vec![fifo]);
}

// ---------------------------------------------------------------------------------------------
// Terminal output

/// A dump whose span name, attribute key and enum-like value carry escape sequences and other
/// control characters.
fn escapes_dump(dir: &Path) -> String {
    let text = doc(
        r#""\u001b[31mred\u001b[0m \u001b]0;title\u0007 \r\b\u009b""#,
        r#"[{"key":"gen_ai.operation.name","value":{"stringValue":"chat\u001b[2J"}},
            {"key":"gen_ai.\u001b[31mevil\u001b[0m","value":{"stringValue":"x"}},
            {"key":"gen_ai.request.model\u0007","value":{"intValue":"1"}}]"#
            .replace('\n', " ")
            .as_str(),
    );
    write(dir, "escapes.jsonl", text.as_bytes())
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = escapes_dump(dir.path());
    for extra in [
        &["--format", "human"][..],
        &["--format", "concise"],
        &["--format", "human", "--statistics"],
        &["--format", "concise", "--statistics"],
        &["--format", "human", "--quiet"],
    ] {
        let mut args = vec!["check", "--color", "never"];
        args.extend_from_slice(extra);
        args.push(&path);
        let output = spanlint(&args);
        for (stream, text) in [("stdout", stdout(&output)), ("stderr", stderr(&output))] {
            let bad: Vec<char> = text
                .chars()
                .filter(|c| c.is_control() && *c != '\n')
                .collect();
            assert!(bad.is_empty(), "{extra:?} {stream} has {bad:?}:\n{text}");
        }
    }
}

#[test]
fn migrate_diff_and_errors_never_print_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let path = escapes_dump(dir.path());
    let output = spanlint(&["migrate", "--diff", &path]);
    for text in [stdout(&output), stderr(&output)] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
}

/// Machine formats carry the same hostile names escaped, never raw: each output parses in its
/// own syntax and holds no C0 control character or DEL but newlines (and, in GitHub workflow
/// commands, none that could start a new command). C1 controls (U+0080–U+009F) are valid
/// unescaped JSON and XML text and are passed through; these formats are for tools, not
/// terminals.
#[test]
fn machine_formats_escape_hostile_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = escapes_dump(dir.path());
    for format in ["json", "jsonl", "sarif", "gitlab", "junit", "github"] {
        let output = spanlint(&["check", "--format", format, &path]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{format}: {}",
            stderr(&output)
        );
        let text = stdout(&output);
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| (c < ' ' && c != '\n') || c == '\u{7f}')
            .collect();
        assert!(bad.is_empty(), "{format} has raw {bad:?}");
        match format {
            "json" | "sarif" | "gitlab" => {
                serde_json::from_str::<serde_json::Value>(&text).expect(format);
            }
            "jsonl" => {
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line).expect(format);
                }
            }
            "junit" => {
                roxmltree::Document::parse(&text).expect("JUnit is well-formed XML");
            }
            _ => {
                for line in text.lines() {
                    assert!(
                        line.starts_with("::"),
                        "one workflow command per line: {line}"
                    );
                }
            }
        }
    }
}
