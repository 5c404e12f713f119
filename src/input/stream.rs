//! Streaming input: a large dump read in bounded chunks instead of whole.
//!
//! [`open`] reads the first [`STREAM_THRESHOLD`] bytes of a source. A source that ends within
//! them is loaded whole as before ([`Opened::Whole`], a [`LoadedFile`]); a larger one becomes a
//! [`Chunker`] ([`Opened::Stream`]) that hands out [`Chunk`]s of about [`CHUNK_SIZE`] bytes,
//! each made of whole messages, with the byte offset and line number where it starts, so
//! positions stay those of the whole (decompressed) file. Memory then depends on the chunk
//! size and `--max-message-size`, not on the file's size.
//!
//! Where a stream may be cut:
//! - OTLP/JSON: only at a newline between `}` and `{` (each side may end in `\r` or start with
//!   blanks). A raw newline cannot be inside a JSON string, and inside a document the next
//!   value after a `}` needs a `,` or a closing bracket first, so such a newline is always
//!   between two top-level documents: every line of a JSON-lines dump, never the inside of a
//!   pretty-printed document (which is kept whole, as one message must be).
//! - protobuf: between the frames of the 4-byte length-prefixed stream.
//!
//! A whole-file gzip or zstd stream is decompressed as it is read. The older layout with one
//! compressed frame per message, a single protobuf message (no framing) and anything else
//! unusual are loaded whole, as [`load`](super::load) does.

use std::io::{Cursor, Read};

mod ordered;

use super::decompress::Codec;
use super::{InputError, InputFormat, Limits, LoadedFile, Position, Source, detect};

/// The size of the chunks a large file is read in (a chunk holds whole messages, so it can be
/// larger when one message is). 256 KiB chunks, [`CHUNKS_PER_THREAD`] a thread in memory at
/// once, keep that near 2 MiB on two cores (2 MiB chunks held 12–24 MB more at the peak of a
/// 1 GB run), at no cost in instructions.
pub const CHUNK_SIZE: usize = 1 << 18;

/// How many chunks may be read and not yet handed on, for each thread: room for the chunks
/// being worked on and for those done while an earlier, slower one is still worked on. With
/// no barrier between groups a few suffice (1 GB protobuf `check --quiet`, 2 cores: 8 a thread
/// peaked at 58–113 MB from run to run, 4 at 47–53 MB, in the same time).
const CHUNKS_PER_THREAD: usize = 4;

/// How many checked chunks' buffers a [`Chunker`] keeps for reuse (at most
/// [`CHUNKS_PER_THREAD`] a thread are read and not yet handed on).
const MAX_SPARE: usize = 16;

/// Files up to this size (as read, before decompression) are loaded whole.
pub const STREAM_THRESHOLD: usize = 8 << 20;

/// A source after its first bytes were read: small ones whole, large ones as a stream.
pub enum Opened {
    Whole(LoadedFile),
    Stream(Chunker),
}

/// A piece of a streamed file: whole messages, and where they start in the file.
#[derive(Debug)]
pub struct Chunk {
    pub data: ChunkData,
    /// Byte offset of the chunk's first byte in the (decompressed) file.
    pub offset: usize,
    /// Lines before the chunk (JSON: the chunk's first line is line `line + 1`).
    pub line: usize,
    /// Lines of the chunk that were not UTF-8 (blanked in `data`, so the rest is still read).
    pub errors: Vec<InputError>,
}

/// The bytes of a chunk: JSON is checked to be UTF-8 when the chunk is cut.
#[derive(Debug)]
pub enum ChunkData {
    Text(String),
    Binary(Vec<u8>),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match &self.data {
            ChunkData::Text(text) => text.len(),
            ChunkData::Binary(data) => data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a source and decides how to read it: whole or as a stream of chunks.
pub fn open(
    source: &Source,
    format: Option<InputFormat>,
    limits: &Limits,
) -> Result<Opened, InputError> {
    let name = source.display_name();
    let io_error = |source| InputError::Io {
        file: name.clone(),
        source,
    };
    // The size of a regular file sizes the first read exactly (growing it by doubling would
    // copy it and hold twice its size).
    let mut size_hint = 0;
    let mut reader: Box<dyn Read + Send> = match source {
        Source::Path(path) => {
            let file = std::fs::File::open(path).map_err(io_error)?;
            let meta = file.metadata().map_err(io_error)?;
            if meta.is_dir() {
                return Err(io_error(std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "is a directory",
                )));
            }
            size_hint = usize::try_from(meta.len()).unwrap_or(usize::MAX);
            Box::new(file)
        }
        Source::Stdin => Box::new(std::io::stdin()),
    };
    let mut head = Vec::with_capacity(size_hint.min(STREAM_THRESHOLD) + 1);
    (&mut reader)
        .take(STREAM_THRESHOLD as u64 + 1)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    // `head` is the whole file when it is not longer than the threshold.
    let whole_file = head.len() <= STREAM_THRESHOLD;
    let codec = Codec::sniff(&head);
    let small = match codec {
        None => whole_file || super::decompress::looks_framed(&head),
        // A compressed file is streamed when its content is large.
        Some(codec) => whole_file && codec.output_at_most(&head, STREAM_THRESHOLD),
    };
    if small || head.len() > limits.max_input_size {
        // Small, or one compressed frame per message (the older layout): read whole.
        return super::load_bytes(name, head, reader, format, limits).map(Opened::Whole);
    }
    let rest = Prefixed::new(head, reader);
    let mut decoded: Box<dyn Read + Send> = match codec {
        None => Box::new(rest),
        Some(codec) => codec
            .stream(rest)
            .map_err(|e| codec.error(&name, e.to_string()))?,
    };
    // The first decompressed bytes tell the format.
    let mut sample = Vec::with_capacity(CHUNK_SIZE);
    (&mut decoded)
        .take(CHUNK_SIZE as u64)
        .read_to_end(&mut sample)
        .map_err(|e| read_error(&name, codec, e))?;
    if detect::is_blank(&sample) {
        // Nothing but blanks so far (a bomb of zeros or spaces?): read on, within the limit,
        // to tell an empty file from one that is too large, as a whole read does.
        let cap = u64::try_from(limits.max_input_size).unwrap_or(u64::MAX);
        let more = std::io::copy(
            &mut decoded.take(cap.saturating_sub(sample.len() as u64).saturating_add(1)),
            &mut std::io::sink(),
        )
        .map_err(|e| read_error(&name, codec, e))?;
        if sample.len() as u64 + more > cap {
            let what = codec.map_or("the file".to_string(), |c| {
                format!("the {c} content (decompressed)")
            });
            return Err(InputError::TooLarge {
                file: name,
                position: Position::Byte(if codec.is_some() {
                    0
                } else {
                    limits.max_input_size
                }),
                what,
                limit: limits.max_input_size,
                flag: "max-input-size",
            });
        }
        return Err(InputError::Empty { file: name });
    }
    let format = detect::detect(&name, &sample, format)?;
    if format == InputFormat::Proto && sample.first() != Some(&0) {
        // A single message, or frames of 16 MiB and more: the framing is decided on the whole.
        let mut data = sample;
        let cap = u64::try_from(limits.max_input_size).unwrap_or(u64::MAX);
        decoded
            .take(cap.saturating_sub(data.len() as u64).saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| read_error(&name, codec, e))?;
        if data.len() > limits.max_input_size {
            return Err(too_large_input(&name, limits));
        }
        let mut file = LoadedFile::from_bytes(name, data, format)?;
        file.limits = *limits;
        file.compression = codec.map_or(super::Compression::None, super::Compression::Whole);
        return Ok(Opened::Whole(file));
    }
    let mut chunker = Chunker::new(name, Prefixed::new(sample, decoded), format, *limits);
    chunker.codec = codec;
    Ok(Opened::Stream(chunker))
}

/// Bytes already read, then the rest of the stream. Unlike `Cursor::new(bytes).chain(rest)`,
/// it frees the bytes once they were read: the first 8 MiB of a file are not held while the
/// rest of a large file streams through.
struct Prefixed<R> {
    prefix: Cursor<Vec<u8>>,
    rest: R,
}

impl<R: Read> Prefixed<R> {
    fn new(prefix: Vec<u8>, rest: R) -> Self {
        Prefixed {
            prefix: Cursor::new(prefix),
            rest,
        }
    }
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.prefix.get_ref().is_empty() {
            return self.rest.read(out);
        }
        let n = self.prefix.read(out)?;
        if n == 0 && !out.is_empty() {
            // The prefix is used up: free it and read on.
            self.prefix = Cursor::new(Vec::new());
            return self.rest.read(out);
        }
        Ok(n)
    }
}

fn read_error(name: &str, codec: Option<Codec>, err: std::io::Error) -> InputError {
    match codec {
        Some(codec) => codec.error(name, err.to_string()),
        None => InputError::Io {
            file: name.to_string(),
            source: err,
        },
    }
}

fn too_large_input(name: &str, limits: &Limits) -> InputError {
    InputError::TooLarge {
        file: name.to_string(),
        position: Position::Byte(limits.max_input_size),
        what: "the file".to_string(),
        limit: limits.max_input_size,
        flag: "max-input-size",
    }
}

/// Cuts a stream of decompressed bytes into [`Chunk`]s of whole messages.
///
/// It holds at most the chunk being cut plus one read block (and one message larger than
/// that, up to `--max-message-size`), whatever the size of the stream.
pub struct Chunker {
    pub name: String,
    pub format: InputFormat,
    pub limits: Limits,
    reader: Box<dyn Read + Send>,
    codec: Option<Codec>,
    chunk_size: usize,
    /// The bytes read and not yet handed out (boxed: a `Chunker` is passed by value).
    buf: Box<ReadBuffer>,
    offset: usize,
    /// Newlines before `offset`.
    line: usize,
    eof: bool,
    done: bool,
    /// Buffers of chunks already checked, given back with [`Chunker::recycle`]: reused for the
    /// next chunks, so reading allocates (and faults in) fresh memory only at the start.
    spare: Box<SpareBuffers>,
}

/// Boxed in [`Chunker`], which is passed around by value and should stay small.
#[derive(Default)]
struct SpareBuffers(Vec<Vec<u8>>);

/// Bytes read and not yet handed out are `bytes[..filled]`; `bytes[0]` is at the chunker's
/// `offset` in the stream. The bytes after them are initialised room that the next reads write
/// over: kept so a recycled buffer is read into without being zeroed again first.
#[derive(Default)]
struct ReadBuffer {
    bytes: Vec<u8>,
    filled: usize,
}

impl Chunker {
    /// A chunker over decompressed bytes (`format` already known).
    pub fn new(
        name: impl Into<String>,
        reader: impl Read + Send + 'static,
        format: InputFormat,
        limits: Limits,
    ) -> Self {
        Chunker {
            name: name.into(),
            format,
            limits,
            reader: Box::new(reader),
            codec: None,
            chunk_size: CHUNK_SIZE,
            buf: Box::default(),
            offset: 0,
            line: 0,
            eof: false,
            done: false,
            spare: Box::default(),
        }
    }

    /// Runs `work` on every chunk (or read error) of the stream in parallel and hands the
    /// outcomes to `take` in file order; the chunks' bytes are recycled. `take` returns
    /// `false` to stop reading. `check` and `coverage` go through here.
    ///
    /// `take` (merging trace indexes, writing reports) runs one outcome at a time, on
    /// whichever thread finished the chunk that was next, while the others work on.
    pub fn for_each_in_parallel<T: Send>(
        self,
        work: impl Fn(Result<&mut Chunk, InputError>) -> T + Sync,
        take: &mut (dyn FnMut(T) -> bool + Send),
    ) {
        self.for_each_in_order(work, &mut |outcome, _| take(outcome));
    }

    /// [`for_each_in_parallel`](Self::for_each_in_parallel), where `take` also sees the chunk
    /// the outcome was made from (`None` for a read error): `migrate` writes an unchanged
    /// chunk's own bytes.
    pub fn for_each_in_order<T: Send>(
        self,
        work: impl Fn(Result<&mut Chunk, InputError>) -> T + Sync,
        take: &mut ordered::Take<'_, T>,
    ) {
        let window = rayon::current_num_threads().max(1) * CHUNKS_PER_THREAD;
        ordered::run(self, window, work, take);
    }

    /// Gives back the bytes of a chunk that was checked, for the next chunks to be read into.
    pub fn recycle(&mut self, data: ChunkData) {
        let bytes = match data {
            ChunkData::Text(text) => text.into_bytes(),
            ChunkData::Binary(bytes) => bytes,
        };
        // A buffer that grew for one huge message is not worth keeping. Its bytes are kept:
        // they are room already initialised (see `fill`).
        if self.spare.0.len() < MAX_SPARE && bytes.capacity() <= 4 * self.chunk_size {
            self.spare.0.push(bytes);
        }
    }

    /// Cuts chunks of about `size` bytes instead of [`CHUNK_SIZE`] (tests).
    pub fn with_chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = size.max(1);
        self
    }

    /// The whole-file compression the stream is read through, if any (`migrate` writes its
    /// output with the same).
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// The bytes held right now (for tests of the memory bound).
    pub fn buffered(&self) -> usize {
        self.buf.filled
    }

    /// Bytes read from the stream so far: those handed out or skipped, and those held.
    fn read(&self) -> usize {
        self.offset + self.buf.filled
    }

    /// The bytes read and not yet handed out.
    fn data(&self) -> &[u8] {
        &self.buf.bytes[..self.buf.filled]
    }

    /// Reads until `buf` holds at least `want` bytes or the stream ends.
    ///
    /// Reads fill the buffer's room: a recycled chunk buffer has room for a chunk and some
    /// slack, so the next chunk is read into it without growing it (growing copies the
    /// buffer and faults in fresh pages); only a message larger than the slack grows it.
    /// Reads go straight into the buffer's initialised bytes (`Read::read` into a slice): a
    /// new buffer comes zeroed from the allocator (fresh pages, not written), and a recycled
    /// one keeps its old bytes as room, where `read_to_end` would zero the block before each
    /// read.
    fn fill(&mut self, want: usize) -> Result<(), InputError> {
        while self.buf.filled < want && !self.eof {
            if self.buf.bytes.capacity() < want {
                // Room for the whole block at once (growing from a small size by doubling
                // would copy it each time); a message larger than that grows it by doubling.
                let target = want
                    .max(self.buf.filled + self.chunk_size)
                    .max(2 * self.buf.filled)
                    + self.chunk_size / 8;
                let mut bigger = vec![0; target];
                bigger[..self.buf.filled].copy_from_slice(self.data());
                self.buf.bytes = bigger;
            }
            // One byte past the limit says the limit was passed.
            let room = self
                .limits
                .max_input_size
                .saturating_add(1)
                .saturating_sub(self.read());
            let mut block = self.buf.bytes.capacity();
            if self.format == InputFormat::Proto {
                // Frames are cut where the first one to reach the chunk size ends: read a
                // chunk's worth, then only as far as that frame needs, so nothing past the cut
                // is read and copied into the next chunk's buffer (`cut`), and no more room is
                // zeroed than a frame needs.
                block = block.min(want.max(self.chunk_size));
            }
            let end = block.min(self.buf.filled.saturating_add(room));
            if self.buf.bytes.len() < end {
                self.buf.bytes.resize(end, 0);
            }
            // The block is read whole (or to the end of the stream), as `read_to_end` did.
            let mut n = 0;
            while self.buf.filled < end {
                let read =
                    read_retrying(&mut self.reader, &mut self.buf.bytes[self.buf.filled..end])
                        .map_err(|e| read_error(&self.name, self.codec, e))?;
                if read == 0 {
                    break;
                }
                self.buf.filled += read;
                n += read;
            }
            if self.read() > self.limits.max_input_size {
                // The same error as reading the file whole gives.
                let (position, what) = match self.codec {
                    Some(codec) => (0, format!("the {codec} content (decompressed)")),
                    None => (self.limits.max_input_size, "the file".to_string()),
                };
                return Err(InputError::TooLarge {
                    file: self.name.clone(),
                    position: Position::Byte(position),
                    what,
                    limit: self.limits.max_input_size,
                    flag: "max-input-size",
                });
            }
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// Hands out `buf[..end]` as a chunk; the rest moves to a spare buffer.
    fn cut(&mut self, end: usize) -> Vec<u8> {
        let mut rest = self.spare.0.pop().unwrap_or_default();
        let tail = &self.buf.bytes[end..self.buf.filled];
        match rest.get_mut(..tail.len()) {
            Some(start) => start.copy_from_slice(tail),
            None => {
                rest.clear();
                rest.extend_from_slice(tail);
            }
        }
        self.buf.filled = tail.len();
        self.buf.bytes.truncate(end);
        std::mem::replace(&mut self.buf.bytes, rest)
    }

    fn next_json(&mut self) -> Result<Option<Chunk>, InputError> {
        let mut want = self.chunk_size;
        loop {
            self.fill(want)?;
            if self.buf.filled == 0 {
                return Ok(None);
            }
            let end = if self.eof {
                Some(self.buf.filled)
            } else if let Some(end) = json_boundary(self.data()) {
                Some(end)
            } else if self.buf.filled > self.limits.max_message_size.saturating_add(self.chunk_size)
            {
                // A message larger than the limit is not held whole: what was read is handed
                // out, and the reader reports the oversized line.
                Some(self.buf.filled)
            } else {
                None
            };
            match end {
                Some(end) => return Ok(Some(self.json_chunk(end))),
                None => want = self.buf.filled + self.chunk_size,
            }
        }
    }

    fn json_chunk(&mut self, end: usize) -> Chunk {
        let mut bytes = self.cut(end);
        if self.offset == 0
            && let Some(bom) = bytes
                .get_mut(..detect::BOM.len())
                .filter(|b| *b == detect::BOM)
        {
            bom.fill(b' ');
        }
        let len = bytes.len();
        let lines = memchr::memchr_iter(b'\n', &bytes).count();
        // Validated once: only a chunk that is not all UTF-8 is looked at again.
        let (text, bad) = match String::from_utf8(bytes) {
            Ok(text) => (text, Vec::new()),
            Err(err) => {
                let bytes = err.into_bytes();
                let bad = invalid_utf8_offsets(&bytes);
                (into_text(bytes), bad)
            }
        };
        let errors = bad
            .into_iter()
            .map(|at| InputError::InvalidUtf8 {
                file: self.name.clone(),
                offset: self.offset + at,
            })
            .collect();
        let chunk = Chunk {
            offset: self.offset,
            line: self.line,
            data: ChunkData::Text(text),
            errors,
        };
        self.offset += len;
        self.line += lines;
        chunk
    }

    fn next_proto(&mut self) -> Result<Option<Chunk>, InputError> {
        let mut end = 0;
        loop {
            self.fill(end + 4)?;
            let Some(header) = self.data().get(end..end + 4) else {
                // The end of the stream (a partial length prefix is the reader's error).
                let end = if self.eof { self.buf.filled } else { end };
                return Ok(self.proto_chunk(end));
            };
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if len > self.limits.max_message_size && end > 0 {
                // Hand out the frames before it; the oversized one is the next chunk's.
                return Ok(self.proto_chunk(end));
            }
            if len > self.limits.max_message_size {
                return Err(self.skip_oversized_frame(len));
            }
            self.fill(end + 4 + len)?;
            if self.buf.filled < end + 4 + len {
                // Truncated: the reader reports it at its place.
                return Ok(self.proto_chunk(self.buf.filled));
            }
            end += 4 + len;
            if end >= self.chunk_size {
                return Ok(self.proto_chunk(end));
            }
        }
    }

    fn proto_chunk(&mut self, end: usize) -> Option<Chunk> {
        if end == 0 {
            return None;
        }
        let bytes = self.cut(end);
        let chunk = Chunk {
            offset: self.offset,
            line: 0,
            data: ChunkData::Binary(bytes),
            errors: Vec::new(),
        };
        self.offset += chunk.len();
        Some(chunk)
    }

    /// A frame larger than `--max-message-size` at the start of `buf` is read past without
    /// being kept; reading goes on after it.
    fn skip_oversized_frame(&mut self, len: usize) -> InputError {
        let at = self.offset;
        let error = InputError::Proto {
            file: self.name.clone(),
            offset: at,
            message: format!(
                "a protobuf message of {len} bytes exceeds the limit of {} bytes \
                 (--max-message-size)",
                self.limits.max_message_size
            ),
        };
        let mut left = 4 + len;
        while left > 0 {
            let take = left.min(self.buf.filled);
            self.buf.bytes.drain(..take);
            self.buf.filled -= take;
            self.offset += take;
            left -= take;
            if left == 0 {
                break;
            }
            if self.eof {
                self.done = true;
                break;
            }
            if let Err(err) = self.fill(left.min(self.chunk_size)) {
                self.done = true;
                return err;
            }
        }
        error
    }
}

/// `Read::read` into `out`, again when interrupted (as `read_to_end` does).
fn read_retrying(reader: &mut impl Read, out: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(out) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Bytes of a JSON chunk as text. A line that is not UTF-8 is blanked to spaces (offsets
/// stay those of the file); the reader then finds nothing there. The caller reports it.
fn into_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let mut bytes = err.into_bytes();
            while let Err(e) = std::str::from_utf8(&bytes) {
                let bad = e.valid_up_to();
                let start = memchr::memrchr(b'\n', &bytes[..bad]).map_or(0, |nl| nl + 1);
                let end = memchr::memchr(b'\n', &bytes[bad..]).map_or(bytes.len(), |nl| bad + nl);
                bytes[start..end].fill(b' ');
            }
            String::from_utf8(bytes).unwrap_or_default()
        }
    }
}

/// Byte offsets (in the chunk) of the first bad byte of each line that is not UTF-8.
fn invalid_utf8_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Err(e) = std::str::from_utf8(&bytes[at..]) {
        let bad = at + e.valid_up_to();
        found.push(bad);
        at = memchr::memchr(b'\n', &bytes[bad..]).map_or(bytes.len(), |nl| bad + nl + 1);
    }
    found
}

/// The end (just past the newline) of the last place in `buf` where a JSON stream may be cut
/// (see the module documentation).
fn json_boundary(buf: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'\n', buf)
        .find(|&nl| {
            let before = buf[..nl]
                .iter()
                .rev()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\r'));
            let after = buf[nl + 1..]
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
            before == Some(&b'}') && after == Some(&b'{')
        })
        .map(|nl| nl + 1)
}

impl Iterator for Chunker {
    type Item = Result<Chunk, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.format {
            InputFormat::Json => self.next_json(),
            InputFormat::Proto => self.next_proto(),
        };
        match result {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                // An oversized protobuf frame was skipped: reading goes on after it.
                if !matches!(err, InputError::Proto { .. }) {
                    self.done = true;
                }
                Some(Err(err))
            }
        }
    }
}
