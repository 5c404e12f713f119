//! The values percentiles are taken of (durations, times to first chunk), per (operation,
//! model), in bounded memory.
//!
//! Exact nearest-rank percentiles need every value. A run within the budget keeps them in
//! memory and sorts each group's; once the run's tally spills ([`super::RunTally`]), the values
//! go to a temporary file instead (16 bytes each) and only each group's count stays. Each
//! wanted rank is then found by selection, a byte of the value at a time: a pass over the file
//! counts, for every wanted rank, the values that share the bytes found so far by their next
//! byte (256 counters), which says the next byte of the value at that rank. Eight passes give
//! the value exactly (as sorting by [`f64::total_cmp`] would), however many values a group
//! has, with 2 KiB of counters a rank.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use foldhash::HashMap;

use super::{Latency, round3};
use crate::coverage::facts::Strings;
use crate::coverage::percentile;
use crate::trace::Blocks;
use crate::trace::SpillError;
use crate::trace::spill::{get_u32, get_u64, put_u32, put_u64};

/// The percentiles reported, as [`Latency`]'s fields.
const PERCENTILES: [f64; 3] = [50.0, 95.0, 99.0];

/// Each group's count of values and their percentiles.
type Counted = HashMap<(u32, u32), (usize, [f64; 3])>;

/// Values per (operation, model), as the tally's numbers of their names.
#[derive(Debug, Default)]
pub struct Samples {
    memory: HashMap<(u32, u32), Blocks<f64>>,
    spilled: Option<Spilled>,
    /// Each spilled group's count and percentiles, once [`select`](Samples::select)ed.
    selected: Option<Counted>,
}

#[derive(Debug)]
struct Spilled {
    file: BufWriter<File>,
    counts: HashMap<(u32, u32), usize>,
    /// The first failed write: reported when the percentiles are taken.
    failed: Option<io::Error>,
}

impl Samples {
    pub fn push(&mut self, group: (u32, u32), value: f64) {
        match &mut self.spilled {
            None => self.memory.entry(group).or_default().push(value),
            Some(spilled) => spilled.push(group, value),
        }
    }

    /// Moves the values to a temporary file; the values pushed from now on go there too.
    pub fn spill(&mut self) -> Result<(), SpillError> {
        if self.spilled.is_some() {
            return Ok(());
        }
        let file = tempfile::tempfile().map_err(SpillError::new("create"))?;
        let mut spilled = Spilled {
            file: BufWriter::with_capacity(1 << 16, file),
            counts: HashMap::default(),
            failed: None,
        };
        for (group, values) in std::mem::take(&mut self.memory) {
            for value in values {
                spilled.push(group, value);
            }
        }
        self.spilled = Some(spilled);
        Ok(())
    }

    /// Takes the percentiles of spilled values from their file (nothing to do for values in
    /// memory): before [`percentiles`](Samples::percentiles), which cannot fail.
    pub fn select(&mut self) -> Result<(), SpillError> {
        if let Some(spilled) = self.spilled.take() {
            self.selected = Some(spilled.select()?);
        }
        Ok(())
    }

    /// Each group's count and percentiles, by operation then model name.
    pub fn percentiles(self, strings: &Strings) -> Vec<Latency> {
        debug_assert!(self.spilled.is_none(), "spilled samples not selected");
        let counted = match self.selected {
            Some(selected) => selected,
            None => in_memory(self.memory),
        };
        let mut named: Vec<_> = counted
            .into_iter()
            .map(|(g, counted)| ((strings.get(g.0), strings.get(g.1)), counted))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
            .into_iter()
            .map(|((operation, model), (spans, [p50, p95, p99]))| Latency {
                operation: operation.to_string(),
                model: model.to_string(),
                spans,
                p50_ms: round3(p50),
                p95_ms: round3(p95),
                p99_ms: round3(p99),
            })
            .collect()
    }
}

/// Each group's percentiles, its values sorted in memory.
fn in_memory(memory: HashMap<(u32, u32), Blocks<f64>>) -> Counted {
    memory
        .into_iter()
        .map(|(group, blocks)| {
            let mut v: Vec<f64> = blocks.into_iter().collect();
            v.sort_by(f64::total_cmp);
            (group, (v.len(), PERCENTILES.map(|p| percentile(&v, p))))
        })
        .collect()
}

impl Spilled {
    fn push(&mut self, group: (u32, u32), value: f64) {
        *self.counts.entry(group).or_default() += 1;
        if self.failed.is_none()
            && let Err(err) = write_value(&mut self.file, group, value)
        {
            self.failed = Some(err);
        }
    }

    /// Each group's percentiles, selected from the file byte by byte.
    fn select(self) -> Result<Counted, SpillError> {
        if let Some(err) = self.failed {
            return Err(SpillError::new("write")(err));
        }
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| SpillError::new("write")(e.into_error()))?;
        let mut wanted: HashMap<(u32, u32), [Rank; 3]> = self
            .counts
            .iter()
            .map(|(&group, &n)| (group, PERCENTILES.map(|p| Rank::new(nearest_rank(p, n)))))
            .collect();
        for byte in 0..8 {
            file.rewind().map_err(SpillError::new("read"))?;
            count_next_bytes(
                &mut BufReader::with_capacity(1 << 16, &file),
                &mut wanted,
                byte,
            )
            .map_err(SpillError::new("read"))?;
            for ranks in wanted.values_mut() {
                ranks.iter_mut().for_each(Rank::settle_byte);
            }
        }
        Ok(wanted
            .into_iter()
            .map(|(group, ranks)| {
                let values = ranks.map(|r| from_ordered(r.prefix));
                (group, (self.counts[&group], values))
            })
            .collect())
    }
}

/// One wanted rank of a group, its value found a byte at a time (most significant first).
#[derive(Debug, Clone, Copy)]
struct Rank {
    /// 1-based rank among the values that start with `prefix`.
    rank: usize,
    /// The bytes of the value's [`ordered`] key found so far.
    prefix: u64,
    counts: [usize; 256],
}

impl Rank {
    fn new(rank: usize) -> Self {
        Rank {
            rank,
            prefix: 0,
            counts: [0; 256],
        }
    }

    /// Takes the next byte from this pass's counts: the byte under which the rank falls.
    fn settle_byte(&mut self) {
        let mut below = 0;
        let mut byte = 255;
        for (b, &n) in self.counts.iter().enumerate() {
            if below + n >= self.rank {
                byte = b;
                break;
            }
            below += n;
        }
        self.rank -= below;
        self.prefix = (self.prefix << 8) | byte as u64;
        self.counts = [0; 256];
    }
}

/// One pass: for each wanted rank, counts the values whose first `byte` bytes are the rank's
/// prefix, by their next byte.
fn count_next_bytes(
    input: &mut impl Read,
    wanted: &mut HashMap<(u32, u32), [Rank; 3]>,
    byte: u32,
) -> io::Result<()> {
    while let Some((group, value)) = read_value(input)? {
        let Some(ranks) = wanted.get_mut(&group) else {
            continue;
        };
        let key = ordered(value);
        let known = key.checked_shr(64 - 8 * byte).unwrap_or(0);
        let next = ((key >> (56 - 8 * byte)) & 0xff) as usize;
        for rank in ranks.iter_mut().filter(|r| r.prefix == known) {
            rank.counts[next] += 1;
        }
    }
    Ok(())
}

/// The 1-based rank [`percentile`] takes for `p` of `n` values.
fn nearest_rank(p: f64, n: usize) -> usize {
    (((p / 100.0) * n as f64).ceil() as usize).clamp(1, n.max(1))
}

/// `value`'s bits, turned so unsigned order is [`f64::total_cmp`]'s order.
fn ordered(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn from_ordered(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

fn write_value(out: &mut impl Write, group: (u32, u32), value: f64) -> io::Result<()> {
    put_u32(out, group.0)?;
    put_u32(out, group.1)?;
    put_u64(out, value.to_bits())
}

fn read_value(input: &mut impl Read) -> io::Result<Option<((u32, u32), f64)>> {
    let operation = match get_u32(input) {
        Ok(n) => n,
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    };
    let model = get_u32(input)?;
    Ok(Some(((operation, model), f64::from_bits(get_u64(input)?))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordered_key_sorts_as_total_cmp_and_turns_back() {
        let mut values = vec![
            0.0,
            -0.0,
            1.5,
            -1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MIN_POSITIVE,
            1e300,
            -1e-300,
        ];
        for v in &values {
            assert_eq!(from_ordered(ordered(*v)).to_bits(), v.to_bits());
        }
        let mut by_key = values.clone();
        by_key.sort_by_key(|v| ordered(*v));
        values.sort_by(f64::total_cmp);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&by_key), bits(&values));
    }

    #[test]
    fn spilled_samples_give_the_percentiles_of_sorted_ones() {
        let mut strings = Strings::default();
        let (chat, tool, model) = (
            strings.intern("chat"),
            strings.intern("execute_tool"),
            strings.intern("gpt-4o"),
        );
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for spill_after in [0, 1, 500, usize::MAX] {
            let (mut kept, mut spilled) = (Samples::default(), Samples::default());
            for i in 0..3_000usize {
                if i == spill_after {
                    spilled.spill().unwrap();
                }
                // Few distinct values (many equal), a wide spread, and negative ones.
                let value = match i % 3 {
                    0 => (next() % 7) as f64 * 0.25,
                    1 => next() as f64 / 1e3,
                    _ => -((next() % 1000) as f64) / 7.0,
                };
                let group = if i % 5 == 0 {
                    (tool, model)
                } else {
                    (chat, model)
                };
                kept.push(group, value);
                spilled.push(group, value);
            }
            spilled.select().unwrap();
            assert_eq!(
                spilled.percentiles(&strings),
                kept.percentiles(&strings),
                "spilled after {spill_after}"
            );
        }
    }

    #[test]
    fn one_value_and_no_values() {
        let mut strings = Strings::default();
        let chat = strings.intern("chat");
        let mut samples = Samples::default();
        samples.spill().unwrap();
        samples.select().unwrap();
        assert!(samples.percentiles(&strings).is_empty());
        let mut samples = Samples::default();
        samples.spill().unwrap();
        samples.push((chat, chat), 42.0);
        samples.select().unwrap();
        let one = samples.percentiles(&strings);
        assert_eq!(
            (one[0].spans, one[0].p50_ms, one[0].p99_ms),
            (1, 42.0, 42.0)
        );
    }
}
