//! Codec throughput: `cargo bench --bench codec`.
//!
//! Three workloads, each encoded and decoded; throughput is counted in bytes of the encoded
//! stream:
//! * `typical`: 2,000 events of 64 bytes of data with an `id:` line, each
//!   `id: N\ndata: <64 bytes>\n\n` (N = 0..1999; the data printable ASCII, see [`text`]);
//! * `large`: 16 events of 64 KiB of data (a single line each);
//! * `many_lines`: 200 events of 100 data lines of 20 bytes.
//!
//! Encode benches encode the whole batch into a reused `Vec` (cleared each iteration). Decode
//! benches feed the stream in 64 KiB chunks to a reused decoder and consume every item.
//!
//! With `SSEHUB_DECODE_STREAM=PATH` the `typical` stream is also written to `PATH`, for
//! `bench/decode.sh`, which feeds the same bytes to eventsource-parser on Node.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ssehub::{Decoder, Event, Item};

const CHUNK: usize = 64 * 1024;

/// Deterministic printable text of `len` bytes (JSON-like, no line breaks).
fn text(len: usize, seed: usize) -> String {
    const ALPHABET: &[u8] = b"{\"abcdefghijklmnopqrstuvwxyz0123456789\": ,}ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..len).map(|i| ALPHABET[(i * 7 + seed * 13) % ALPHABET.len()] as char).collect()
}

fn typical() -> Vec<Event> {
    (0..2_000).map(|i| Event::new(text(64, i)).id(i.to_string())).collect()
}

fn large() -> Vec<Event> {
    (0..16).map(|i| Event::new(text(64 * 1024, i)).id(i.to_string())).collect()
}

fn many_lines() -> Vec<Event> {
    (0..200)
        .map(|i| {
            let lines: Vec<String> = (0..100).map(|l| text(20, i * 100 + l)).collect();
            Event::new(lines.join("\n")).id(i.to_string())
        })
        .collect()
}

fn encode_all(events: &[Event], out: &mut Vec<u8>) {
    for ev in events {
        ssehub::encode(ev, out).unwrap();
    }
}

fn bench_workload(c: &mut Criterion, name: &str, events: &[Event]) {
    let mut wire = Vec::new();
    encode_all(events, &mut wire);
    let bytes = wire.len() as u64;
    if name == "typical" {
        if let Some(path) = std::env::var_os("SSEHUB_DECODE_STREAM") {
            std::fs::write(&path, &wire).expect("write SSEHUB_DECODE_STREAM");
        }
    }

    // Sanity: the stream decodes back to every event.
    let mut dec = Decoder::new();
    let mut n = 0;
    for chunk in wire.chunks(CHUNK) {
        dec.feed(chunk, |item| n += matches!(item, Item::Event(_)) as usize).unwrap();
    }
    assert_eq!(n, events.len());

    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(bytes));

    let mut out = Vec::with_capacity(wire.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encode_all(black_box(events), &mut out);
            black_box(out.len());
        })
    });

    let mut dec = Decoder::new();
    group.bench_function("decode", |b| {
        b.iter(|| {
            let (mut count, mut total) = (0usize, 0usize);
            for chunk in black_box(&wire[..]).chunks(CHUNK) {
                dec.feed(chunk, |item| {
                    if let Item::Event(ev) = item {
                        count += 1;
                        total += ev.data.len();
                    }
                })
                .unwrap();
            }
            dec.finish();
            black_box((count, total));
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_workload(c, "typical", &typical());
    bench_workload(c, "large", &large());
    bench_workload(c, "many_lines", &many_lines());
}

criterion_group!(benches, codec);
criterion_main!(benches);
