//! Hand-off: an application with an HTTP server of its own (here a deliberately small one on
//! `std::net` alone, a thread per connection) keeps its routes and gives `/sse` to ssehub.
//!
//! ```text
//! cargo run --example handoff [ADDR]     # or HANDOFF_ADDR=...; then open http://127.0.0.1:8083/
//! ```
//!
//! The application accepts every connection and reads the request head. `/sse` goes to
//! [`Server::adopt`] with the socket and the bytes already read: ssehub answers that request
//! (the stream, with `Last-Event-ID` replay) and owns the connection from then on. Everything
//! else is the application's own:
//!
//! - `/` a page whose `EventSource('/sse')` counts ticks, reconnections, gaps and duplicates;
//! - `/hello` plain text;
//! - `/stats` ssehub's counters as one line (`streams 2 slow_dropped 0 accepted 5`);
//! - `/drop` ends every stream: each `EventSource` reconnects with `Last-Event-ID` and misses
//!   nothing;
//! - `/burst` publishes 256 events of 64 KiB over two seconds (8 MB/s): a client that does not
//!   read is dropped (its queue bound is 1 MiB), the others carry on.
//!
//! A tick is published every second (`HANDOFF_TICK_MS` to change it); each gets an id and is
//! retained, so a client that reconnects with `Last-Event-ID` gets what it missed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssehub::{AdoptError, Client, Event, Retention, Server};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>ssehub hand-off</title>
<link rel="icon" href="data:,">
<style>body{font:16px system-ui;margin:2rem} b{font:1.4rem ui-monospace,monospace}</style>
<h1>Hand-off</h1>
<p>This page and <a href="/hello">/hello</a> come from the application's own server;
<code>/sse</code> was handed to ssehub.</p>
<p>ticks <b id="count">0</b> · last <b id="last">–</b> · connections <b id="opens">0</b>
 · gaps <b id="gaps">0</b> · duplicates <b id="dups">0</b></p>
<script>
  const $ = (id) => document.getElementById(id);
  let count = 0, last = null, opens = 0, gaps = 0, dups = 0;
  const es = new EventSource('/sse');
  es.onopen = () => { opens += 1; $('opens').textContent = opens; };
  es.addEventListener('gap', () => { gaps += 1; $('gaps').textContent = gaps; });
  es.addEventListener('tick', (e) => {
    const n = Number(e.data);
    if (last !== null && n <= last) { dups += 1; $('dups').textContent = dups; }
    else if (last !== null && n !== last + 1) { gaps += 1; $('gaps').textContent = gaps; }
    last = n; count += 1;
    $('count').textContent = count; $('last').textContent = n;
  });
</script>"#;

/// The largest request head this application reads (then `431`), as ssehub's default.
const MAX_HEAD: usize = 8 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("HANDOFF_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:8083".to_owned());
    let tick: u64 = std::env::var("HANDOFF_TICK_MS").ok().and_then(|ms| ms.parse().ok()).unwrap_or(1000);
    let tick = tick.max(10); // no busy loop

    // ssehub with no listener of its own: every connection comes from the accept loop below.
    let clients: Arc<Mutex<Vec<Client>>> = Arc::default();
    let registry = clients.clone();
    let server = Server::builder()
        .initial_retry(500)
        .on_connect(move |client, _request| {
            let mut clients = registry.lock().unwrap_or_else(|p| p.into_inner());
            clients.retain(Client::is_connected);
            clients.push(client);
        })
        .retention(Retention { max_events: 4096, max_bytes: 16 << 20, ..Retention::default() })
        .adopt_only()?;
    let server = Arc::new(server);

    let hub = server.broadcaster();
    std::thread::spawn(move || {
        for n in 1u64.. {
            let _ = hub.send(Event::new(n.to_string()).event("tick"));
            std::thread::sleep(Duration::from_millis(tick));
        }
    });

    let listener = TcpListener::bind(&addr)?;
    println!("open http://{}/", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (server, clients) = (server.clone(), clients.clone());
        std::thread::spawn(move || {
            if let Err(e) = handle(stream, &server, &clients) {
                eprintln!("handoff: {e}");
            }
        });
    }
    Ok(())
}

/// Reads one request head and answers it, or hands the connection to ssehub.
fn handle(mut stream: TcpStream, server: &Server, clients: &Mutex<Vec<Client>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return reply(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "head too large\n",
            );
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let target = line.split(' ').nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    match path {
        "/sse" => {
            stream.set_read_timeout(None)?;
            // Everything read so far, head and whatever followed it: ssehub reads on from there.
            match server.adopt(stream, &buf) {
                Ok(()) => Ok(()),
                Err(AdoptError::Stopped(mut stream)) => {
                    reply(&mut stream, "503 Service Unavailable", "text/plain", "shutting down\n")
                }
                Err(e) => Err(std::io::Error::other(e)),
            }
        }
        "/" => reply(&mut stream, "200 OK", "text/html; charset=utf-8", PAGE),
        "/hello" => reply(&mut stream, "200 OK", "text/plain", "hello from the application's own route\n"),
        "/stats" => {
            let s = server.stats();
            let body =
                format!("streams {} slow_dropped {} accepted {}\n", s.streams, s.slow_dropped, s.accepted);
            reply(&mut stream, "200 OK", "text/plain", &body)
        }
        "/drop" => {
            let dropped = std::mem::take(&mut *clients.lock().unwrap_or_else(|p| p.into_inner()));
            for client in &dropped {
                client.close();
            }
            reply(&mut stream, "200 OK", "text/plain", &format!("ended {} streams\n", dropped.len()))
        }
        "/burst" => {
            let big = Event::new("x".repeat(64 << 10)).event("bulk");
            let hub = server.broadcaster();
            for _ in 0..256 {
                let _ = hub.send(big.clone());
                std::thread::sleep(Duration::from_millis(8));
            }
            reply(&mut stream, "200 OK", "text/plain", "published 256 events of 64 KiB\n")
        }
        _ => reply(&mut stream, "404 Not Found", "text/plain", "not found\n"),
    }
}

fn reply(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
