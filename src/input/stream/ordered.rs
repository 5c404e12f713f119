//! Working on a stream's chunks on every core while handing the outcomes on in file order,
//! with no thread waiting for the others between chunks.
//!
//! Chunks are read one at a time (the file is read in order) and each becomes a rayon job.
//! A job works on its chunk, files the outcome under the chunk's number, hands on every
//! outcome that is next in file order, and reads as many chunks as there is room for. Whoever
//! holds a lock does that part; a thread that finds it held goes back to work, and the holder
//! looks again before it lets go, so no outcome waits for a later job. At most `window`
//! chunks are read and not yet handed on, which bounds memory whatever the file's size.
//!
//! Groups of chunks with a barrier after each (the way before) left a thread idle whenever
//! it finished its share of a group first.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Mutex, MutexGuard};

use super::{Chunk, ChunkData, Chunker};
use crate::input::InputError;

/// What a job made of a chunk, and the chunk (`None` for a read error); `None` for a chunk
/// read before a stop and not worked on.
type Outcome<T> = Option<(T, Option<Chunk>)>;

/// Hands a chunk's outcome on, with the chunk it was made from; `false` stops reading.
pub type Take<'t, T> = dyn FnMut(T, Option<&Chunk>) -> bool + Send + 't;

struct Pipeline<'t, W, T> {
    work: W,
    /// The reader, and the buffers of chunks handed on, for it to read into again.
    reading: Mutex<Chunker>,
    returned: Mutex<Vec<ChunkData>>,
    /// The number the next chunk read gets (changed only with `reading` held).
    next_read: AtomicUsize,
    exhausted: AtomicBool,
    /// Outcomes not yet handed on, by chunk number.
    ready: Mutex<BTreeMap<usize, Outcome<T>>>,
    take: Mutex<&'t mut Take<'t, T>>,
    /// The number of the next outcome to hand on (changed only with `take` held).
    next_take: AtomicUsize,
    stopped: AtomicBool,
    window: usize,
}

/// Runs `work` on every chunk (or read error) of `chunker` in parallel and gives the outcomes
/// to `take` in file order; at most `window` chunks are in memory at once.
pub fn run<T, W>(chunker: Chunker, window: usize, work: W, take: &mut Take<'_, T>)
where
    T: Send,
    W: Fn(Result<&mut Chunk, InputError>) -> T + Sync,
{
    let pipeline = Pipeline {
        work,
        reading: Mutex::new(chunker),
        returned: Mutex::new(Vec::new()),
        next_read: AtomicUsize::new(0),
        exhausted: AtomicBool::new(false),
        ready: Mutex::new(BTreeMap::new()),
        take: Mutex::new(take),
        next_take: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
        window: window.max(1),
    };
    // Every job reads on and hands on what it can, and a job that finds another doing it
    // relies on that one to look again; should a job still find nothing to do just as the
    // other lets go, the rest is done here once the jobs are over.
    loop {
        rayon::in_place_scope_fifo(|scope| pipeline.read_more(scope));
        pipeline.hand_on();
        if pipeline.exhausted.load(SeqCst) || pipeline.stopped.load(SeqCst) {
            break;
        }
    }
}

impl<'t, W, T> Pipeline<'t, W, T>
where
    T: Send,
    W: Fn(Result<&mut Chunk, InputError>) -> T + Sync,
{
    /// Reads chunks while there is room, a job each.
    fn read_more<'s>(&'s self, scope: &rayon::ScopeFifo<'s>) {
        loop {
            let Ok(mut chunker) = self.reading.try_lock() else {
                return; // The holder reads, and looks again before it lets go.
            };
            for data in lock(&self.returned).drain(..) {
                chunker.recycle(data);
            }
            while self.has_room() {
                let Some(item) = chunker.next() else {
                    self.exhausted.store(true, SeqCst);
                    break;
                };
                let number = self.next_read.fetch_add(1, SeqCst);
                scope.spawn_fifo(move |scope| self.job(scope, number, item));
            }
            drop(chunker);
            // A chunk handed on while the lock was held made room nobody used.
            if !self.has_room() {
                return;
            }
        }
    }

    fn has_room(&self) -> bool {
        // Taken first: the next chunk to hand on is never past the next one to read.
        let taken = self.next_take.load(SeqCst);
        let in_flight = self.next_read.load(SeqCst).saturating_sub(taken);
        in_flight < self.window && !self.exhausted.load(SeqCst) && !self.stopped.load(SeqCst)
    }

    fn job<'s>(
        &'s self,
        scope: &rayon::ScopeFifo<'s>,
        number: usize,
        item: Result<Chunk, InputError>,
    ) {
        // After a stop the chunks still read are only counted off.
        let outcome = match item {
            _ if self.stopped.load(SeqCst) => None,
            Ok(mut chunk) => Some(((self.work)(Ok(&mut chunk)), Some(chunk))),
            Err(err) => Some(((self.work)(Err(err)), None)),
        };
        lock(&self.ready).insert(number, outcome);
        self.hand_on();
        self.read_more(scope);
    }

    /// Gives `take` every outcome that is next in file order.
    fn hand_on(&self) {
        loop {
            let Ok(mut take) = self.take.try_lock() else {
                return; // The holder hands on, and looks again before it lets go.
            };
            loop {
                let next = self.next_take.load(SeqCst);
                let Some(outcome) = lock(&self.ready).remove(&next) else {
                    break;
                };
                if let Some((outcome, chunk)) = outcome {
                    if !self.stopped.load(SeqCst) && !take(outcome, chunk.as_ref()) {
                        self.stopped.store(true, SeqCst);
                    }
                    if let Some(chunk) = chunk {
                        lock(&self.returned).push(chunk.data);
                    }
                }
                self.next_take.store(next + 1, SeqCst);
            }
            drop(take);
            let next = self.next_take.load(SeqCst);
            if !lock(&self.ready).contains_key(&next) {
                return;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in `work` or `take` already ends the run; the data behind a poisoned lock is
    // still whole (each critical section is a single insert, remove or call).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::super::{Chunk, ChunkData, Chunker};
    use crate::input::{InputFormat, Limits};

    /// `lines` JSON lines of different lengths, so chunks take different times to work on.
    fn json_lines(lines: usize) -> Vec<u8> {
        (0..lines)
            .map(|i| {
                format!(
                    "{{\"resourceSpans\":[],\"n\":\"{}\"}}\n",
                    "x".repeat(i % 97)
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    /// A reader that counts the bytes read from it.
    struct Counting(Cursor<Vec<u8>>, Arc<AtomicUsize>);

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.fetch_add(n, SeqCst);
            Ok(n)
        }
    }

    fn chunker(data: Vec<u8>, read: Arc<AtomicUsize>) -> Chunker {
        Chunker::new(
            "dump",
            Counting(Cursor::new(data), read),
            InputFormat::Json,
            Limits::default(),
        )
        .with_chunk_size(64)
    }

    /// Busy work that grows with the chunk's offset, so later chunks are not done in order.
    fn work_on(chunk: &Chunk) -> usize {
        let ChunkData::Text(text) = &chunk.data else {
            panic!("a JSON chunk is text");
        };
        let rounds = (chunk.offset * 7919) % 5000;
        std::hint::black_box((0..rounds).fold(0usize, |a, b| a.wrapping_add(b * text.len())));
        chunk.offset
    }

    #[test]
    fn hands_every_chunk_on_in_file_order_within_the_window() {
        let data = json_lines(3000);
        let read = Arc::new(AtomicUsize::new(0));
        let taken = AtomicUsize::new(0);
        let window = 4;
        let mut seen: Vec<(usize, usize)> = Vec::new();
        let work = |chunk: Result<&mut Chunk, _>| {
            let chunk = chunk.expect("no read errors");
            // Chunks are numbered by their offsets' order: this one is `seen.len()`-th only
            // once taken, so count how many were taken when it was worked on.
            (work_on(chunk), chunk.len(), taken.load(SeqCst))
        };
        super::run(
            chunker(data.clone(), read.clone()),
            window,
            work,
            &mut |(offset, len, taken_then), chunk| {
                assert_eq!(chunk.map(Chunk::len), Some(len));
                let index = seen.len();
                assert!(
                    index < taken_then + window,
                    "chunk {index} worked on when only {taken_then} were taken (window {window})"
                );
                seen.push((offset, len));
                taken.fetch_add(1, SeqCst);
                true
            },
        );
        assert!(seen.len() > 100, "{} chunks", seen.len());
        let mut next = 0;
        for (offset, len) in &seen {
            assert_eq!(*offset, next, "chunks out of order or missing");
            next += len;
        }
        assert_eq!(next, data.len());
        assert_eq!(read.load(SeqCst), data.len());
    }

    #[test]
    fn stops_reading_when_take_says_so() {
        let data = json_lines(3000);
        let read = Arc::new(AtomicUsize::new(0));
        let mut taken = 0;
        super::run(
            chunker(data.clone(), read.clone()),
            4,
            |chunk: Result<&mut Chunk, _>| work_on(chunk.expect("no read errors")),
            &mut |_, _| {
                taken += 1;
                taken < 3
            },
        );
        assert_eq!(taken, 3);
        assert!(
            read.load(SeqCst) < data.len() / 10,
            "read {} of {} bytes after the stop",
            read.load(SeqCst),
            data.len()
        );
    }
}
