//! A file writer that has the kernel start writing the output to disk while `migrate` goes on.
//!
//! A rewrite replaces its target atomically: the output goes to a temporary file, which is
//! synced (`fsync`) before it is renamed over the target, so a crash never leaves a half-written
//! or empty file where the dump was. Left alone, the kernel keeps a gigabyte of output in
//! memory and the final sync then waits for all of it (a second or more on a virtual disk, a
//! quarter of a 1 GB run). Asking for write-out every few megabytes as they are written
//! (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`, which starts it without waiting) lets the
//! disk work during the run, so the final sync has little left to wait for. Elsewhere than on
//! Linux the writer only writes.

use std::fs::File;
use std::io::{self, Write};

/// Write-out is started each time this much more was written.
const WRITEBACK_STEP: u64 = 16 << 20;

/// Writes to `file`, starting write-out of every [`WRITEBACK_STEP`] bytes written.
pub struct EarlyWriteback<'f> {
    file: &'f File,
    written: u64,
    /// Where the range not yet handed to write-out starts.
    started: u64,
}

impl<'f> EarlyWriteback<'f> {
    /// A writer appending to `file` from its current position, which must be its start (a
    /// new temporary file).
    pub fn new(file: &'f File) -> Self {
        EarlyWriteback {
            file,
            written: 0,
            started: 0,
        }
    }

    fn start_writeback(&mut self) {
        if self.written - self.started < WRITEBACK_STEP {
            return;
        }
        start_writeback(self.file, self.started, self.written - self.started);
        self.started = self.written;
    }
}

impl Write for EarlyWriteback<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Starts write-out of `len` bytes of `file` from `offset`, without waiting for it. Only a
/// hint: a failure here shows again, and is reported, at the final sync.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open (borrowed from `file`) and the call reads no memory.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;

    /// Every byte reaches the file, in order, across several write-out steps and an odd tail.
    #[test]
    fn writes_everything_in_order() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..(2 * WRITEBACK_STEP + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut writer = EarlyWriteback::new(&file);
        for piece in data.chunks(1 << 20) {
            writer.write_all(piece).unwrap();
        }
        writer.flush().unwrap();
        assert_eq!(writer.started, 2 * WRITEBACK_STEP);
        file.rewind().unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert!(back == data);
    }
}
