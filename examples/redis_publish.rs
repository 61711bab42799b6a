//! How fast one caller publishes through a Redis backplane: `Broadcaster::publish_to`, which
//! waits a round trip per event, beside `Broadcaster::publish_batch`, which pipelines. Reports
//! events/s and Redis's own CPU time per event (from `INFO cpu`), one JSON line per mode.
//!
//! ```sh
//! redis-server --port 18379 --save '' &
//! cargo run --release --example redis_publish -- redis://127.0.0.1:18379 100000 1000
//! #                                               URL                    EVENTS BATCH
//! ```

use std::time::{Duration, Instant};

use ssehub::{Event, RedisConfig, Server, Target};

fn redis_cpu(client: &redis::Client) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut conn = client.get_connection()?;
    let info: String = redis::cmd("INFO").arg("cpu").query(&mut conn)?;
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(Duration::from_secs_f64(field("used_cpu_user") + field("used_cpu_sys")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let events: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let batch: usize = args.next().map_or(Ok(1_000), |a| a.parse())?.max(1);
    let client = redis::Client::open(url.as_str())?;
    // REPLAY: the events kept per channel (the server's --replay; each publish past it trims).
    let replay: usize = std::env::var("REPLAY").ok().and_then(|r| r.parse().ok()).unwrap_or(1024);
    let server = Server::builder()
        .redis(RedisConfig::new(&url))
        .configure(|c| c.retention.max_events = replay)
        .bind("127.0.0.1:0")?;
    let hub = server.broadcaster();
    let target = Target::channels(["bench"]);
    let data = "x".repeat(64);

    // publish_to: a round trip per event (a tenth of the events: it is slow).
    let single = (events / 10).max(1);
    let (cpu0, t0) = (redis_cpu(&client)?, Instant::now());
    for _ in 0..single {
        hub.publish_to(&target, Event::new(data.as_str()))?;
    }
    report("publish_to", single, t0.elapsed(), redis_cpu(&client)? - cpu0);

    let (cpu0, t0) = (redis_cpu(&client)?, Instant::now());
    let mut failed = 0;
    for start in (0..events).step_by(batch) {
        let n = batch.min(events - start);
        let receipts = hub.publish_batch((0..n).map(|_| (target.clone(), Event::new(data.as_str()))));
        failed += receipts.iter().filter(|r| r.is_err()).count();
    }
    report(&format!("publish_batch({batch})"), events - failed, t0.elapsed(), redis_cpu(&client)? - cpu0);
    if failed > 0 {
        return Err(format!("{failed} publishes failed").into());
    }
    server.shutdown();
    Ok(())
}

fn report(mode: &str, events: usize, took: Duration, redis_cpu: Duration) {
    let per_s = events as f64 / took.as_secs_f64();
    let cpu_us = redis_cpu.as_secs_f64() * 1e6 / events.max(1) as f64;
    println!(
        "{{\"mode\":\"{mode}\",\"events\":{events},\"seconds\":{:.3},\"events_per_s\":{per_s:.0},\"redis_cpu_us_per_event\":{cpu_us:.2}}}",
        took.as_secs_f64()
    );
}
