//! The metrics endpoint: Prometheus text with the documented series, counting what happened.

mod net;

use net::{Stream, TIMEOUT, wait_until};
use ssehub::{Event, Server};

fn value(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_count_streams_events_bytes_and_rejections() {
    let server = Server::builder().workers(2).metrics_path("/metrics").bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let mut a = Stream::open(addr, "/sse", "");
    let mut b = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 2));
    for n in 0..10 {
        hub.send(Event::new(n.to_string())).unwrap();
    }
    a.items(10);
    b.items(10);
    let mut bad = net::Conn::connect(addr);
    bad.send(b"POST /sse HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(bad.read_head().status, 405);

    let mut conn = net::Conn::connect(addr);
    conn.send(&net::get("/metrics", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let m = String::from_utf8(body).unwrap();
    assert_eq!(value(&m, "ssehub_streams"), 2);
    assert_eq!(value(&m, "ssehub_published_total"), 10);
    assert!(value(&m, "ssehub_connections_accepted_total") >= 4);
    assert_eq!(value(&m, "ssehub_connections_rejected_total{reason=\"route\"}"), 1, "the 405");
    assert_eq!(value(&m, "ssehub_connections_rejected_total{reason=\"malformed\"}"), 0);
    // Every event reached its streams through a write pass; each pass is observed once per
    // publish and worker that had a stream for it.
    let observed = value(&m, "ssehub_publish_to_write_seconds_count");
    assert!((10..=20).contains(&observed), "{observed}");
    assert_eq!(value(&m, "ssehub_publish_to_write_seconds_bucket{le=\"+Inf\"}"), observed);
    assert!(m.contains(&format!("ssehub_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
    for name in
        ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds"]
    {
        assert!(m.lines().any(|l| l.starts_with(&format!("{name} "))), "no {name}");
    }
    assert!(value(&m, "process_open_fds") >= 4);
    assert_eq!(value(&m, "ssehub_slow_clients_dropped_total"), 0);
    let events: u64 =
        (0..2).map(|w| value(&m, &format!("ssehub_events_written_total{{worker=\"{w}\"}}"))).sum();
    assert_eq!(events, 20, "10 events to each of 2 streams");
    let bytes: u64 =
        (0..2).map(|w| value(&m, &format!("ssehub_bytes_written_total{{worker=\"{w}\"}}"))).sum();
    assert!(bytes > 20 * 10, "{bytes}");
    let per_worker: u64 =
        (0..2).map(|w| value(&m, &format!("ssehub_worker_streams{{worker=\"{w}\"}}"))).sum();
    assert_eq!(per_worker, 2);
    for name in ["ssehub_queued_bytes{worker=\"0\"}", "ssehub_callback_panics_total", "ssehub_connections"] {
        value(&m, name);
    }
    assert!(m.contains("# TYPE ssehub_events_written_total counter"));
    assert_eq!(server.metrics().lines().count(), m.lines().count());
    let stats = server.stats();
    assert_eq!(stats.rejected, 1);
    assert!(stats.rejected_by_reason.contains(&("route", 1)), "{stats:?}");
    server.shutdown();
}

#[test]
fn no_metrics_path_means_the_fallback_answers() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let mut conn = net::Conn::connect(server.local_addr());
    conn.send(&net::get("/metrics", ""));
    assert_eq!(conn.read_head().status, 404);
    server.shutdown();
}

#[test]
fn a_metrics_listener_answers_when_the_public_port_is_full() {
    let server = Server::builder()
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .configure(|c| c.max_connections = 1)
        .bind("127.0.0.1:0")
        .unwrap();
    let (public, admin) = (server.local_addr(), server.metrics_addr().expect("a metrics listener"));
    // The public port serves no metrics now, and is full with one stream.
    let mut first = net::Conn::connect(public);
    first.send(&net::get("/metrics", ""));
    assert_eq!(first.read_head().status, 404);
    drop(first);
    assert!(wait_until(TIMEOUT, || server.stats().connections == 0));
    let _stream = Stream::open(public, "/sse", "");
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    let mut refused = net::Conn::connect(public);
    refused.send(&net::get("/sse", ""));
    assert_eq!(refused.read_head().status, 503);
    // The metrics listener still answers, the metrics only.
    let mut conn = net::Conn::connect(admin);
    conn.send(&net::get("/metrics", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    let m = String::from_utf8(body).unwrap();
    assert_eq!(value(&m, "ssehub_streams"), 1);
    assert_eq!(value(&m, "ssehub_connections_rejected_total{reason=\"connection_limit\"}"), 1);
    conn.send(&net::get("/sse", ""));
    assert_eq!(conn.read_head().status, 404, "no streams on the metrics listener");
    server.shutdown();
}
