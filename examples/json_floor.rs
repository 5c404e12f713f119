//! The throughput floor for OTLP/JSON lines: serde_json deserialising each line into
//! `serde::de::IgnoredAny` on one core. It validates the same bytes as `spanlint check` reads
//! and does nothing else, so `check`'s MB/s divided by this is how close spanlint gets to the
//! cost of merely reading JSON. Prints MB/s. `bench/run.sh` drives it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: json_floor FILE.jsonl")?;
    let data = std::fs::read(&path)?;
    let start = std::time::Instant::now();
    let mut lines = 0u64;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let _: serde::de::IgnoredAny = serde_json::from_slice(line)?;
        lines += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{:.1}", data.len() as f64 / 1e6 / seconds);
    eprintln!("{lines} lines in {seconds:.2} s");
    Ok(())
}
