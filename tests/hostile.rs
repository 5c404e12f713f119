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
    assert!(
        err.contains("changed in 0 of"),
        "a file not written is not counted: {err}"
    );
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
        assert!(
            stderr(&output).contains("changed in 0 of"),
            "a file not written is not counted: {}",
            stderr(&output)
        );
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

/// `-o LINK`: the link is followed, its target replaced atomically (a temporary file next to
/// the target, renamed over it), and the link stays a link to the same place, as editors and
/// `sed -i --follow-symlinks` do. Relative targets and chains of links resolve from each
/// link's directory.
#[test]
fn output_through_a_symlink_replaces_the_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    let links = dir.path().join("links");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&links).unwrap();
    let target = real.join("out.jsonl");
    std::fs::write(&target, b"old output\n").unwrap();
    // links/out.jsonl -> hop.jsonl -> ../real/out.jsonl
    std::os::unix::fs::symlink("../real/out.jsonl", links.join("hop.jsonl")).unwrap();
    std::os::unix::fs::symlink("hop.jsonl", links.join("out.jsonl")).unwrap();
    let link = links.join("out.jsonl").display().to_string();
    let output = spanlint(&["migrate", LEGACY, "-o", &link]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let expected = spanlint(&["migrate", LEGACY]).stdout;
    assert_eq!(std::fs::read(&target).unwrap(), expected);
    assert_eq!(std::fs::read(&link).unwrap(), expected);
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("hop.jsonl"),
        "the link is untouched"
    );
    assert_eq!(
        listing(&real),
        vec![target.clone()],
        "no temporary file left"
    );
    assert_eq!(
        listing(&links),
        vec![links.join("hop.jsonl"), links.join("out.jsonl")]
    );

    // A dangling link gets its target created.
    std::os::unix::fs::symlink("../real/new.jsonl", links.join("new.jsonl")).unwrap();
    let dangling = links.join("new.jsonl").display().to_string();
    let output = spanlint(&["migrate", LEGACY, "-o", &dangling]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(std::fs::read(real.join("new.jsonl")).unwrap(), expected);
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A loop of links cannot be written: a clear error, and nothing changes.
    std::os::unix::fs::symlink("loop-b", links.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", links.join("loop-b")).unwrap();
    let looping = links.join("loop-a").display().to_string();
    let output = spanlint(&["migrate", LEGACY, "-o", &looping]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("loop-a: cannot write: too many levels of symbolic links"),
        "{err}"
    );
    assert_eq!(std::fs::read_link(&looping).unwrap(), Path::new("loop-b"));
}

/// `--in-place` on a symlinked input rewrites the file the link points to and keeps the link;
/// the file's permissions are kept too.
#[test]
fn in_place_through_a_symlink_rewrites_the_target_and_keeps_the_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(LEGACY).unwrap();
    let target = PathBuf::from(write(dir.path(), "dump.jsonl", &original));
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let link = link.display().to_string();
    let output = spanlint(&["migrate", "--in-place", &link]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        spanlint(&["migrate", LEGACY]).stdout
    );
    assert_ne!(std::fs::read(&target).unwrap(), original);
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(listing(dir.path()), vec![target, PathBuf::from(&link)]);
}

/// A link to a file on a full disk: the write fails, the target stays byte-identical, the link
/// stays, and no temporary file is left next to either.
#[test]
fn a_full_disk_behind_a_symlink_keeps_the_target_byte_identical() {
    let Some(disk) = SmallDisk::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and mount)");
        return;
    };
    let original = legacy_dump(60);
    let target = PathBuf::from(write(disk.path(), "legacy.jsonl", &original));
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let output = spanlint(&["migrate", "--in-place", &link.display().to_string()]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), original);
    assert_eq!(listing(disk.path()), vec![target.clone()]);
    assert_eq!(listing(dir.path()), vec![link.clone()]);
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
}

// ---------------------------------------------------------------------------------------------
// Terminal output

/// A dump whose span name, attribute key and enum-like value carry escape sequences and other
/// control characters: ESC sequences, BEL, CR, backspace, the one-byte C1 CSI U+009B, NEL
/// U+0085, DEL, and the bidi override U+202E and isolate U+2066 ("Trojan Source").
fn escapes_dump(dir: &Path) -> String {
    write(dir, "escapes.jsonl", escapes_text().as_bytes())
}

fn escapes_text() -> String {
    doc(
        r#""\u001b[31mred\u001b[0m \u001b]0;title\u0007 \r\b\u009b2J \u0085 \u007f \u202egnp.exe\u2066x\u2069""#,
        r#"[{"key":"gen_ai.operation.name","value":{"stringValue":"chat\u001b[2J\u009b1m\u202e"}},
            {"key":"gen_ai.\u001b[31mevil\u001b[0m\u202e","value":{"stringValue":"x"}},
            {"key":"gen_ai.request.model\u0007\u009b","value":{"intValue":"1"}}]"#
            .replace('\n', " ")
            .as_str(),
    )
}

/// A file name no terminal should see raw: ESC and BEL (an OSC title sequence), the C1 CSI,
/// NEL, DEL, a bidi override and isolate, a tab, a newline, and the characters the formats
/// escape themselves (`"`, `\`, `%`, `:`, `,`, `<`, `&`).
const HOSTILE_NAME: &str =
    "evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{85}\u{7f}\u{202e}lmth\u{2066}x\u{2069}\t\n\"\\%:,<&";

/// The characters that must never reach stdout or stderr raw: C0 controls but the newline,
/// DEL, C1 controls, the bidi marks, embeddings, overrides and isolates, U+2028/U+2029.
fn unsafe_chars(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(
                    c,
                    '\u{061C}'
                        | '\u{200E}'
                        | '\u{200F}'
                        | '\u{202A}'..='\u{202E}'
                        | '\u{2066}'..='\u{2069}'
                        | '\u{2028}'
                        | '\u{2029}'
                )
        })
        .collect()
}

fn assert_clean(what: &str, output: &Output) {
    assert!(
        !stderr(output).contains("panicked"),
        "{what}: {}",
        stderr(output)
    );
    for (stream, text) in [("stdout", stdout(output)), ("stderr", stderr(output))] {
        let bad = unsafe_chars(&without_colours(&text));
        assert!(bad.is_empty(), "{what}: {stream} has raw {bad:?}:\n{text}");
    }
}

/// `text` without spanlint's own colours (SGR sequences: ESC `[` digits and `;` then `m`), so
/// that what is left of ESC can only come from a dump or a file name. The hostile inputs carry
/// other sequences too (OSC titles, the C1 CSI) that this never removes.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\u{1b}[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let params = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[params..].starts_with('m') {
            rest = &after[params + 1..];
        } else {
            out.push('\u{1b}');
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// In `dir`, under [`HOSTILE_NAME`] names: the escapes dump (`<name>.jsonl`), a truncated one
/// whose error shows a snippet (`<name>-broken.jsonl`), and a directory holding a copy
/// (`<name>-dir/`). Returns the three paths.
fn hostile_files(dir: &Path) -> [String; 3] {
    let text = escapes_text();
    let dump = write(dir, &format!("{HOSTILE_NAME}.jsonl"), text.as_bytes());
    let broken = write(
        dir,
        &format!("{HOSTILE_NAME}-broken.jsonl"),
        &text.as_bytes()[..text.len() / 2],
    );
    let sub = dir.join(format!("{HOSTILE_NAME}-dir"));
    std::fs::create_dir(&sub).unwrap();
    write(&sub, &format!("{HOSTILE_NAME}.jsonl"), text.as_bytes());
    [dump, broken, sub.display().to_string()]
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
        assert_clean(&format!("{extra:?}"), &spanlint(&args));
    }
}

/// Every `check` format, a hostile dump under hostile file names, an unreadable one among
/// them, colour on and off: nothing unsafe reaches stdout or stderr, every machine format
/// parses, and the JSON formats still carry the exact file names (escaped, not replaced).
#[test]
fn hostile_file_names_in_every_check_format() {
    let dir = tempfile::tempdir().unwrap();
    let [dump, broken, sub] = hostile_files(dir.path());
    let formats = [
        "human", "concise", "json", "jsonl", "sarif", "github", "gitlab", "junit",
    ];
    for format in formats {
        for color in ["never", "always"] {
            let output = spanlint(&[
                "check", "--format", format, "--color", color, &dump, &broken, &sub,
            ]);
            let what = format!("{format} --color {color}");
            assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
            assert_clean(&what, &output);
            let err = stderr(&output);
            // The input error names the file (sanitized) and the position.
            assert!(
                err.contains("evil\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}2J") && err.contains("1:"),
                "{what}: {err}"
            );
            assert_machine_format_parses(format, &stdout(&output), &dump, Some(&broken));
        }
    }
}

/// `text` parses in `format`'s syntax and names `dump` (and `broken`, unreadable) exactly, or
/// as exactly as the syntax allows.
fn assert_machine_format_parses(format: &str, text: &str, dump: &str, broken: Option<&str>) {
    let files = |value: &serde_json::Value, key: &str| -> Vec<String> {
        value[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["file"].as_str().unwrap().to_string())
            .collect()
    };
    match format {
        "json" => {
            let report: serde_json::Value = serde_json::from_str(text).expect("JSON parses");
            assert!(files(&report, "findings").iter().any(|f| f == dump));
            assert_eq!(files(&report, "errors"), Vec::from_iter(broken));
        }
        "jsonl" => {
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("each line parses"))
                .collect();
            assert!(lines.iter().any(|l| l["file"] == dump));
            if let Some(broken) = broken {
                assert!(
                    lines
                        .iter()
                        .any(|l| l["type"] == "error" && l["file"] == broken)
                );
            }
        }
        "sarif" | "gitlab" => {
            serde_json::from_str::<serde_json::Value>(text).expect("JSON parses");
        }
        "junit" => {
            let xml = roxmltree::Document::parse(text).expect("JUnit is well-formed XML");
            // XML 1.0 cannot hold C0 controls even escaped: those are replaced; the rest
            // (C1, DEL, bidi) reads back as it was.
            let readable = |name: &str| -> String {
                name.chars()
                    .map(|c| {
                        if c < ' ' && c != '\t' && c != '\n' {
                            '\u{FFFD}'
                        } else {
                            c
                        }
                    })
                    .collect()
            };
            let suites: Vec<&str> = xml
                .descendants()
                .filter(|n| n.has_tag_name("testsuite"))
                .filter_map(|n| n.attribute("name"))
                .collect();
            assert!(suites.contains(&readable(dump).as_str()), "{suites:?}");
            if let Some(broken) = broken {
                assert!(suites.contains(&readable(broken).as_str()), "{suites:?}");
            }
        }
        "github" => {
            for line in text.lines() {
                assert!(
                    line.starts_with("::"),
                    "one workflow command per line: {line}"
                );
            }
        }
        _ => {}
    }
}

#[test]
fn migrate_diff_and_errors_never_print_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let path = escapes_dump(dir.path());
    assert_clean("migrate --diff", &spanlint(&["migrate", "--diff", &path]));
}

/// `migrate` on hostile file names: the diff, the summary, parse errors, `--in-place`,
/// `-o DIR`, and a write that fails.
#[test]
fn migrate_never_prints_hostile_file_names_raw() {
    let dir = tempfile::tempdir().unwrap();
    let [dump, broken, sub] = hostile_files(dir.path());
    let out = dir.path().join(format!("{HOSTILE_NAME}-out"));
    let out = out.display().to_string();
    let unwritable = format!("{}/{HOSTILE_NAME}-missing/x.jsonl", dir.path().display());
    for args in [
        vec!["migrate", "--diff", &dump],
        vec!["migrate", "--check", &dump, &broken],
        vec!["migrate", "-o", &out, &dump, &broken, &sub],
        vec!["migrate", "--in-place", &broken],
        vec!["migrate", "-o", &unwritable, &dump],
        vec!["migrate", "--in-place", &dump, &sub],
    ] {
        let output = spanlint(&args);
        assert_clean(&format!("{args:?}"), &output);
    }
    // The rewritten dump still holds its names exactly (the escaping is for the terminal).
    let again = std::fs::read_to_string(&dump).unwrap();
    assert!(again.contains(r"\u202egnp.exe"), "{again}");
}

/// `coverage` in every format on the same files.
#[test]
fn coverage_never_prints_hostile_names_raw() {
    let dir = tempfile::tempdir().unwrap();
    let [dump, broken, sub] = hostile_files(dir.path());
    for format in ["table", "markdown", "json", "html"] {
        let output = spanlint(&["coverage", "--format", format, &dump, &broken, &sub]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{format}: {}",
            stderr(&output)
        );
        assert_clean(&format!("coverage {format}"), &output);
        if format == "json" {
            serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON parses");
        }
    }
}

/// Machine formats carry the same hostile names escaped, never raw: each output parses in its
/// own syntax and holds no unsafe character (JSON escapes C1 controls and bidi overrides as
/// `\uXXXX`, XML as character references), and the GitHub workflow commands stay one per
/// line.
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
        assert_clean(format, &output);
        let text = stdout(&output);
        assert_machine_format_parses(format, &text, &path, None);
        if format == "json" {
            // The span name reads back exactly: escaped, not replaced.
            let report: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(
                report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["span_name"]
                        .as_str()
                        .unwrap()
                        .contains("\u{9b}2J \u{85} \u{7f} \u{202e}gnp.exe\u{2066}x\u{2069}")),
                "{text}"
            );
            assert!(
                text.contains(r"\u009b") && text.contains(r"\u202e"),
                "{text}"
            );
        }
    }
}
