//! `--format junit`: JUnit XML, for CI systems that show test reports (GitLab `reports: junit`,
//! Jenkins, Azure Pipelines, the JUnit actions on GitHub).
//!
//! ```xml
//! <testsuites name="spanlint" tests="3" failures="1" errors="0">
//!   <testsuite name="dumps/chat.jsonl" tests="3" failures="1" errors="0">
//!     <testcase name="chat gpt-4o-mini (span 94d5894218407115)" classname="dumps/chat.jsonl">
//!       <failure type="missing-required-attribute" message="…">error[missing-required-attribute] at 1:567 …</failure>
//!     </testcase>
//!     <testcase name="2 other GenAI spans conform" classname="dumps/chat.jsonl"/>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! One test suite per file. One test case per span with findings, holding one `<failure>` per
//! error or warning in file order; infos do not fail a case (they are advice, and do not fail a
//! run at the default `--fail-on`), they are listed in the case's `<system-out>`. The findings
//! of a span (trace id, span id and name) next to each other in file order are one case: a
//! span's own, and a copy of it right after it; a copy elsewhere in the file is a case of its
//! own. The spans without
//! findings are not kept in memory (a dump can hold millions), so they pass together as one
//! case per file that counts them (`N other GenAI spans conform`, or `no GenAI spans` when
//! there are none); a clean run therefore still gets a passing case per file. An input that
//! could not be read is a case with an `<error>`. `failures` counts failed cases, as JUnit does.
//! Text is XML-escaped and characters XML 1.0 forbids are replaced.
//!
//! A suite's counts come before its cases and the trace-level findings come after every file,
//! so the report cannot be written as the files are checked. [`JunitStream`] keeps each
//! finding, rendered, as a small record: in memory up to [`SPOOL_BUDGET`], then in unlinked
//! temporary files, and writes the report from them at the end, so memory stays flat however
//! many findings a run has.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, Write};
use std::ops::Range;
use std::path::PathBuf;

use crate::check::LocatedFinding;
use crate::input::InputError;

/// How many bytes of records a spool holds in memory before it moves to a temporary file.
pub const SPOOL_BUDGET: usize = 4 << 20;

/// [`SPOOL_BUDGET`], or the hidden `SPANLINT_JUNIT_BUDGET` (bytes), for tests that spool
/// small reports.
fn spool_budget() -> usize {
    std::env::var("SPANLINT_JUNIT_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(SPOOL_BUDGET)
}

/// Whether a finding fails its test case: errors and warnings do, infos are advice.
fn fails(located: &LocatedFinding) -> bool {
    located.finding.severity > crate::finding::Severity::Info
}

/// The JUnit report of a run, kept as records while the files are checked.
#[derive(Default)]
pub struct JunitStream {
    files: Vec<SuiteFile>,
    /// The file the next findings belong to.
    current: usize,
    /// The span-level findings, each file's in file order.
    findings: Spool,
    /// The trace-level findings, in (file, offset) order.
    traces: Spool,
    /// Whether the findings now given are trace-level.
    tracing: bool,
    /// The first failure of a spool's temporary file.
    failed: Option<io::Error>,
}

/// A checked file: its name, GenAI span count and where its records are.
#[derive(Default)]
struct SuiteFile {
    name: String,
    genai_spans: usize,
    findings: Vec<Range<u64>>,
    traces: Vec<Range<u64>>,
}

/// Why the report could not be written.
#[derive(Debug)]
pub enum JunitError {
    /// A temporary file could not be written or read back.
    Spool(SpoolError),
    /// The report's destination refused the bytes.
    Write(io::Error),
}

/// The report's temporary files failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot use the JUnit report's temporary files in {}: {source}", dir.display())]
#[diagnostic(
    code(spanlint::junit_spool),
    help(
        "a large report is kept in temporary files until its counts are known; free space there, or set TMPDIR to a directory with room"
    )
)]
pub struct SpoolError {
    dir: PathBuf,
    source: io::Error,
}

impl JunitStream {
    /// The findings given next belong to file number `file` (numbered from 0 in the order
    /// the files are given), named `name`, with `genai_spans` more GenAI spans.
    pub fn file(&mut self, file: usize, name: &str, genai_spans: usize) {
        while self.files.len() <= file {
            self.files.push(SuiteFile::default());
        }
        let suite = &mut self.files[file];
        if suite.name.is_empty() {
            suite.name = name.to_string();
        }
        suite.genai_spans += genai_spans;
        self.current = file;
    }

    /// The findings given from now on are trace-level ones, in (file, offset) order.
    pub fn traces_follow(&mut self) {
        self.tracing = true;
    }

    /// Keeps findings of the current file: a piece of the file's span-level findings (its
    /// spans are after those of the pieces before), or the next of its trace-level findings.
    pub fn findings(&mut self, findings: &[LocatedFinding]) {
        if findings.is_empty() || self.failed.is_some() {
            return;
        }
        if self.current >= self.files.len() {
            self.file(self.current, "", 0);
        }
        // File order: the rules of a span report in their own order.
        let mut ordered: Vec<&LocatedFinding> = findings.iter().collect();
        ordered.sort_by_key(|located| located.finding.offset);
        let (spool, ranges) = match self.tracing {
            false => (&mut self.findings, &mut self.files[self.current].findings),
            true => (&mut self.traces, &mut self.files[self.current].traces),
        };
        let start = spool.len();
        let mut record = Vec::new();
        let mut text = String::new();
        for located in ordered {
            record.clear();
            encode(located, &mut text, &mut record);
            if let Err(err) = spool.push(&record) {
                self.failed = Some(err);
                return;
            }
        }
        match ranges.last_mut() {
            Some(last) if last.end == start => last.end = spool.len(),
            _ => ranges.push(start..spool.len()),
        }
    }

    /// Writes the whole report to `out`: the suites of the files, in order, then suites for
    /// inputs that could not be opened, each with its input errors as error cases.
    pub fn finish(mut self, errors: &[InputError], out: &mut dyn Write) -> Result<(), JunitError> {
        let spool_error = |source| {
            JunitError::Spool(SpoolError {
                dir: std::env::temp_dir(),
                source,
            })
        };
        if let Some(err) = self.failed.take() {
            return Err(spool_error(err));
        }
        let files = std::mem::take(&mut self.files);
        let suites = suites(&files, errors);
        let mut body = Spool::default();
        let mut totals = Counts::default();
        let mut text = String::new();
        for suite in &suites {
            let counts = self
                .render_suite(suite, &mut body, &mut text)
                .map_err(spool_error)?;
            totals.add(counts);
        }
        let mut head = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            head,
            "<testsuites name=\"spanlint\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            totals.tests, totals.failures, totals.errors
        );
        out.write_all(head.as_bytes()).map_err(JunitError::Write)?;
        body.copy_to(out).map_err(|err| match err {
            Copy::Read(err) => spool_error(err),
            Copy::Write(err) => JunitError::Write(err),
        })?;
        out.write_all(b"</testsuites>\n").map_err(JunitError::Write)
    }

    /// Renders one suite into `body`; its counts.
    fn render_suite(
        &self,
        suite: &Suite<'_>,
        body: &mut Spool,
        text: &mut String,
    ) -> io::Result<Counts> {
        let name = escape(suite.name);
        // First the counts, which come before the cases, then the cases.
        let mut span_cases = 0;
        let mut failures = 0;
        self.each_case(suite.file, Texts::Skip, &mut |case| {
            span_cases += 1;
            failures += usize::from(case.iter().any(|r| r.fails));
            Ok(())
        })?;
        let failed = span_cases;
        let genai_spans = suite.file.map_or(0, |f| f.genai_spans);
        let conforming = genai_spans.saturating_sub(failed);
        let unreadable = !suite.errors.is_empty();
        // "No GenAI spans" is no pass for a file that could not be read.
        let pass = (suite.file.is_some() && (conforming > 0 || (genai_spans == 0 && !unreadable)))
            .then_some((conforming, failed > 0));
        let counts = Counts {
            tests: span_cases + usize::from(pass.is_some()) + suite.errors.len(),
            failures,
            errors: suite.errors.len(),
        };
        let _ = writeln!(
            text,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            counts.tests, counts.failures, counts.errors
        );
        body.push(text.as_bytes())?;
        text.clear();
        self.each_case(suite.file, Texts::Read, &mut |case| {
            render_case(case, &name, text);
            body.push(text.as_bytes())?;
            text.clear();
            Ok(())
        })?;
        if let Some((conforming, others)) = pass {
            let case_name = match (conforming, others) {
                (0, _) => "no GenAI spans".to_string(),
                (1, false) => "1 GenAI span conforms".to_string(),
                (1, true) => "1 other GenAI span conforms".to_string(),
                (n, false) => format!("{n} GenAI spans conform"),
                (n, true) => format!("{n} other GenAI spans conform"),
            };
            let _ = writeln!(
                text,
                "    <testcase name=\"{case_name}\" classname=\"{name}\"/>"
            );
        }
        for err in &suite.errors {
            render_error(err, &name, text);
        }
        text.push_str("  </testsuite>\n");
        body.push(text.as_bytes())?;
        text.clear();
        Ok(counts)
    }

    /// Calls `case` with the records of each test case of a file: its span-level and
    /// trace-level findings merged in file order (span-level first at the same place), the
    /// findings of one span next to each other making one case. The records' texts are read
    /// only when `texts` asks for them.
    fn each_case(
        &self,
        file: Option<&SuiteFile>,
        texts: Texts,
        case: &mut dyn FnMut(&[Record]) -> io::Result<()>,
    ) -> io::Result<()> {
        let Some(file) = file else { return Ok(()) };
        let mut spans = Records::new(self.findings.reader(&file.findings)?, texts);
        let mut traces = Records::new(self.traces.reader(&file.traces)?, texts);
        // The current case's records are `current[..len]`; the records past them are kept
        // for their buffers, so reading a record allocates nothing once they have grown.
        let mut current: Vec<Record> = Vec::new();
        let mut len = 0;
        loop {
            let span_at = spans.peek()?.map(|r| r.offset);
            let trace_at = traces.peek()?.map(|r| r.offset);
            let records = match (span_at, trace_at) {
                (Some(s), Some(t)) if s > t => &mut traces,
                (Some(_), _) => &mut spans,
                (None, _) => &mut traces,
            };
            let Some(next) = records.peek()? else { break };
            if len > 0 && !current[0].same_span(next) {
                case(&current[..len])?;
                len = 0;
            }
            if len == current.len() {
                current.push(Record::default());
            }
            records.take_into(&mut current[len]);
            len += 1;
        }
        if len > 0 {
            case(&current[..len])?;
        }
        Ok(())
    }
}

/// Whether [`JunitStream::each_case`] reads the records' texts (the counting pass does not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Texts {
    Read,
    Skip,
}

/// A suite: a checked file (with the input errors of that name), or an input that could not
/// be opened (its errors only).
struct Suite<'a> {
    name: &'a str,
    file: Option<&'a SuiteFile>,
    errors: Vec<&'a InputError>,
}

/// The files' suites in order, then one for each other name the input errors give; each
/// error goes to the first suite of its file's name.
fn suites<'a>(files: &'a [SuiteFile], errors: &'a [InputError]) -> Vec<Suite<'a>> {
    let mut suites: Vec<Suite<'a>> = files
        .iter()
        .map(|file| Suite {
            name: &file.name,
            file: Some(file),
            errors: Vec::new(),
        })
        .collect();
    for err in errors {
        match suites.iter().position(|s| s.name == err.file()) {
            Some(index) => suites[index].errors.push(err),
            None => suites.push(Suite {
                name: err.file(),
                file: None,
                errors: vec![err],
            }),
        }
    }
    suites
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
    }
}

fn render_case(case: &[Record], classname: &str, out: &mut String) {
    let first = &case[0];
    let mut case_name = first.name().to_string();
    if !first.span_id().is_empty() {
        let _ = write!(case_name, " (span {})", first.span_id());
    }
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{classname}\">",
        escape(&case_name)
    );
    let mut advice = String::new();
    for record in case {
        match record.fails {
            true => out.push_str(&record.text),
            false => {
                advice.push_str(&record.text);
                advice.push('\n');
            }
        }
    }
    if !advice.is_empty() {
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape(advice.trim_end())
        );
    }
    out.push_str("    </testcase>\n");
}

fn render_error(err: &InputError, classname: &str, out: &mut String) {
    let code = miette::Diagnostic::code(err)
        .map_or_else(|| "spanlint::input".to_string(), |c| c.to_string());
    let message = escape(&err.to_string());
    let _ = writeln!(
        out,
        "    <testcase name=\"read\" classname=\"{classname}\">\n      \
         <error type=\"{}\" message=\"{message}\">{message}</error>\n    \
         </testcase>",
        escape(&code)
    );
}

/// One finding as the report needs it: its place, its span, and its text (a `<failure>`
/// element, or for advice the plain text that goes in the case's `<system-out>`).
#[derive(Default)]
struct Record {
    offset: u64,
    fails: bool,
    /// The span's trace id, span id and name, one after the other.
    span: String,
    /// Where the span id and the name start in `span`.
    splits: [usize; 2],
    text: String,
}

impl Record {
    fn same_span(&self, other: &Record) -> bool {
        self.splits == other.splits && self.span == other.span
    }

    fn span_id(&self) -> &str {
        &self.span[self.splits[0]..self.splits[1]]
    }

    fn name(&self) -> &str {
        &self.span[self.splits[1]..]
    }
}

/// The fixed-size start of a record: offset, fails, then the lengths of the trace id, span
/// id, name and text, whose bytes follow it.
const HEADER: usize = 8 + 1 + 4 * 8;

/// Appends a finding's record ([`HEADER`], then the span's trace id, span id and name, then the
/// text); `text` is room to build the text in.
fn encode(located: &LocatedFinding, text: &mut String, out: &mut Vec<u8>) {
    let f = &located.finding;
    let fails = fails(located);
    text.clear();
    // A failure's text is escaped here; advice is escaped when its case's <system-out> is
    // written. Escaping goes character by character, so the parts can be escaped one by one.
    let put = |text: &mut String, part: &str| match fails {
        true => escape_into(part, text),
        false => text.push_str(part),
    };
    if fails {
        text.push_str("      <failure type=\"");
        text.push_str(f.rule);
        text.push_str("\" message=\"");
        escape_into(&f.message, text);
        text.push_str("\">");
    }
    // Severities, rule ids and positions are plain ASCII: nothing to escape.
    let _ = write!(text, "{}[{}] at {}: ", f.severity, f.rule, located.position);
    put(text, &f.message);
    let line_break = if fails { "&#10;" } else { "\n" };
    if let Some(service) = &f.span.service {
        text.push_str(line_break);
        text.push_str("service: ");
        put(text, service);
    }
    if !f.span.trace_id.is_empty() {
        text.push_str(line_break);
        text.push_str("trace: ");
        put(text, &f.span.trace_id);
    }
    if let Some(help) = &f.help {
        text.push_str(line_break);
        text.push_str("help: ");
        put(text, help);
    }
    if fails {
        text.push_str("</failure>\n");
    }
    out.extend_from_slice(&(f.offset as u64).to_le_bytes());
    out.push(u8::from(fails));
    let fields = [&f.span.trace_id, &f.span.span_id, &f.span.name, &*text];
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_le_bytes());
    }
    for field in fields {
        out.extend_from_slice(field.as_bytes());
    }
}

/// The records of a spool's sections, read one ahead into reused buffers.
struct Records<'s> {
    reader: Box<dyn BufRead + 's>,
    texts: Texts,
    /// The record read ahead, when `ready`.
    next: Record,
    ready: bool,
}

impl<'s> Records<'s> {
    fn new(reader: Box<dyn BufRead + 's>, texts: Texts) -> Self {
        Records {
            reader,
            texts,
            next: Record::default(),
            ready: false,
        }
    }

    fn peek(&mut self) -> io::Result<Option<&Record>> {
        if !self.ready {
            self.ready = self.read()?;
        }
        Ok(self.ready.then_some(&self.next))
    }

    /// Moves the record read ahead (call [`Records::peek`] first) into `slot`, whose buffers
    /// the next record is read into.
    fn take_into(&mut self, slot: &mut Record) {
        std::mem::swap(slot, &mut self.next);
        self.ready = false;
    }

    /// Reads the next record into `self.next`; `false` at the end.
    fn read(&mut self) -> io::Result<bool> {
        if self.reader.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut header = [0u8; HEADER];
        self.reader.read_exact(&mut header)?;
        let word = |at: usize| {
            let bytes: [u8; 8] = header[at..at + 8].try_into().unwrap_or_default();
            usize::try_from(u64::from_le_bytes(bytes))
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
        };
        let record = &mut self.next;
        record.offset = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
        record.fails = header[8] != 0;
        let (trace_id, span_id, name, text) = (word(9)?, word(17)?, word(25)?, word(33)?);
        record.splits = [trace_id, trace_id + span_id];
        read_string(
            &mut self.reader,
            trace_id + span_id + name,
            &mut record.span,
        )?;
        match self.texts {
            Texts::Read => read_string(&mut self.reader, text, &mut record.text)?,
            Texts::Skip => skip(&mut self.reader, text)?,
        }
        Ok(true)
    }
}

/// Reads `len` bytes of UTF-8 into `into`, reusing its buffer.
fn read_string(reader: &mut dyn BufRead, len: usize, into: &mut String) -> io::Result<()> {
    let mut bytes = std::mem::take(into).into_bytes();
    bytes.clear();
    bytes.resize(len, 0);
    reader.read_exact(&mut bytes)?;
    *into = String::from_utf8(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    Ok(())
}

/// Reads past `len` bytes.
fn skip(reader: &mut dyn BufRead, mut len: usize) -> io::Result<()> {
    while len > 0 {
        let available = reader.fill_buf()?.len();
        if available == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = available.min(len);
        reader.consume(n);
        len -= n;
    }
    Ok(())
}

/// Bytes appended in memory up to a budget ([`SPOOL_BUDGET`]), then to an unlinked
/// temporary file.
struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    /// Bytes already in the file.
    flushed: u64,
    budget: usize,
}

impl Default for Spool {
    fn default() -> Self {
        Spool {
            memory: Vec::new(),
            file: None,
            flushed: 0,
            budget: spool_budget(),
        }
    }
}

/// Why copying a spool out failed.
enum Copy {
    Read(io::Error),
    Write(io::Error),
}

impl Spool {
    fn len(&self) -> u64 {
        self.flushed + self.memory.len() as u64
    }

    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.memory.extend_from_slice(bytes);
        if self.memory.len() >= self.budget {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all(&self.memory)?;
        self.flushed += self.memory.len() as u64;
        self.memory.clear();
        Ok(())
    }

    /// Reads the bytes of `ranges`, one after the other.
    fn reader(&self, ranges: &[Range<u64>]) -> io::Result<Box<dyn BufRead + '_>> {
        let mut chain: Box<dyn BufRead + '_> = Box::new(io::empty());
        for range in ranges.iter().rev() {
            chain = Box::new(self.section(range.clone())?.chain(chain));
        }
        Ok(chain)
    }

    /// One range's bytes, from memory or the file (which holds every byte before `flushed`).
    fn section(&self, range: Range<u64>) -> io::Result<Box<dyn BufRead + '_>> {
        match &self.file {
            None => {
                let bytes = usize::try_from(range.start)
                    .ok()
                    .zip(usize::try_from(range.end).ok())
                    .and_then(|(start, end)| self.memory.get(start..end))
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                Ok(Box::new(bytes))
            }
            Some(file) => Ok(Box::new(io::BufReader::with_capacity(
                1 << 16,
                SpoolSection::new(file, &self.memory, self.flushed, range),
            ))),
        }
    }

    /// Writes every byte to `out`.
    fn copy_to(mut self, out: &mut dyn Write) -> Result<(), Copy> {
        if let Some(mut file) = self.file.take() {
            file.rewind().map_err(Copy::Read)?;
            let mut buf = vec![0u8; 1 << 16];
            let mut left = self.flushed;
            while left > 0 {
                let n = file.read(&mut buf).map_err(Copy::Read)?;
                if n == 0 {
                    return Err(Copy::Read(io::ErrorKind::UnexpectedEof.into()));
                }
                out.write_all(&buf[..n]).map_err(Copy::Write)?;
                left = left.saturating_sub(n as u64);
            }
        }
        out.write_all(&self.memory).map_err(Copy::Write)
    }
}

/// A range of a spool whose first part is in its file and the rest (past `flushed`) still in
/// memory; read at positions, so sections of the same file can be read one after the other.
struct SpoolSection<'s> {
    file: &'s File,
    memory: &'s [u8],
    flushed: u64,
    at: u64,
    end: u64,
}

impl<'s> SpoolSection<'s> {
    fn new(file: &'s File, memory: &'s [u8], flushed: u64, range: Range<u64>) -> Self {
        SpoolSection {
            file,
            memory,
            flushed,
            at: range.start,
            end: range.end,
        }
    }
}

impl Read for SpoolSection<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.end.saturating_sub(self.at))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = if self.at < self.flushed {
            let want = want.min(usize::try_from(self.flushed - self.at).unwrap_or(usize::MAX));
            let mut file = self.file;
            file.seek(io::SeekFrom::Start(self.at))?;
            file.read(&mut buf[..want])?
        } else {
            let start = usize::try_from(self.at - self.flushed)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let bytes = self
                .memory
                .get(start..start + want)
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf[..want].copy_from_slice(bytes);
            want
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// Escapes text for XML content and attribute values. The characters XML 1.0 does not allow
/// (C0 controls other than tab and line breaks, U+FFFE, U+FFFF) become U+FFFD; the other
/// [unsafe characters](super::is_unsafe_char) (DEL, C1 controls such as the one-byte CSI
/// U+009B, bidi overrides) become character references, so they read back unchanged but never
/// reach a terminal raw (`cat report.xml`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

/// [`escape`], appending to `out`.
fn escape_into(text: &str, out: &mut String) {
    let mut rest = text;
    loop {
        // A run ends before an ASCII byte or at the first byte of a character, so it is
        // whole characters.
        let run = super::plain_run(rest.as_bytes(), is_plain);
        out.push_str(&rest[..run]);
        let mut chars = rest[run..].chars();
        let Some(c) = chars.next() else { return };
        escape_char(c, out);
        rest = chars.as_str();
    }
}

/// Whether a byte is written as it is: printable ASCII but XML's markup characters. (`&`,
/// not `&&` or `matches!`: without branches the test of a block is vectorized.)
fn is_plain(b: u8) -> bool {
    (b.wrapping_sub(b' ') < 95)
        & (b != b'&')
        & (b != b'<')
        & (b != b'>')
        & (b != b'"')
        & (b != b'\'')
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&apos;"),
        // Line breaks in attribute values would be normalised to spaces by parsers.
        '\n' => out.push_str("&#10;"),
        '\r' => out.push_str("&#13;"),
        '\t' => out.push_str("&#9;"),
        c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
        c if super::is_unsafe_char(c) => {
            let _ = write!(out, "&#x{:X};", u32::from(c));
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_char};

    #[test]
    fn escape_handles_markup_and_forbidden_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("x\u{1b}y\u{FFFF}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(escape("a\nb"), "a&#10;b");
        assert_eq!(
            escape("c\u{9b}d\u{7f}e\u{202e}f"),
            "c&#x9B;d&#x7F;e&#x202E;f"
        );
    }

    /// Runs of plain text (copied 16 bytes at a time) and escaped characters anywhere in
    /// them give what escaping character by character gives.
    #[test]
    fn escaping_runs_matches_escaping_each_character() {
        let pieces = [
            "plain",
            "0123456789abcdef",
            "<&>",
            "\"'",
            "é😀",
            "\u{9b}\u{1}\n",
            "",
        ];
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(pieces[i * 7 % pieces.len()]);
            text.push_str(&"x".repeat(i % 19));
            let mut one_by_one = String::new();
            text.chars().for_each(|c| escape_char(c, &mut one_by_one));
            assert_eq!(escape(&text), one_by_one);
        }
    }
}
