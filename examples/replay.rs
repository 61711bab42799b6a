//! Resumption, shown in a browser: the server drops every client every 1.5 s, and each
//! `EventSource` reconnects by itself with `Last-Event-ID` and carries on with no gap.
//!
//! ```text
//! cargo run --example replay [ADDR]     # then open http://127.0.0.1:8081/
//! ```
//!
//! A counter is published ten times a second; the hub numbers each event, keeps the recent ones,
//! and replays to a reconnecting client exactly those after the id it sends. The page counts
//! events, reconnections, gaps and duplicates (the end-to-end test reads those numbers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssehub::{Client, Event, Response, Server};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>ssehub replay</title>
<link rel="icon" href="data:,">
<style>body{font:16px system-ui;margin:2rem} b{font:1.4rem ui-monospace,monospace}</style>
<h1>Resumption</h1>
<p>The server drops this page's stream every 1.5 s; the browser reconnects with Last-Event-ID.</p>
<p>events <b id="count">0</b> · last <b id="last">–</b> · connections <b id="opens">0</b>
 · gaps <b id="gaps">0</b> · duplicates <b id="dups">0</b></p>
<script>
  const $ = (id) => document.getElementById(id);
  let count = 0, last = null, opens = 0, gaps = 0, dups = 0;
  const es = new EventSource('/sse');
  es.onopen = () => { opens += 1; $('opens').textContent = opens; };
  es.addEventListener('gap', () => { gaps += 1; $('gaps').textContent = gaps; });
  es.onmessage = (e) => {
    const n = Number(e.data);
    if (last !== null && n <= last) { dups += 1; $('dups').textContent = dups; }
    else if (last !== null && n !== last + 1) { gaps += 1; $('gaps').textContent = gaps; }
    last = n; count += 1;
    $('count').textContent = count; $('last').textContent = n;
  };
</script>"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let clients: Arc<Mutex<Vec<Client>>> = Arc::default();
    let registry = clients.clone();
    let server = Server::builder()
        .initial_retry(200) // reconnect quickly after each drop
        .on_connect(move |client, _request| registry.lock().unwrap().push(client))
        .fallback(|request| match request.path.as_str() {
            "/" => Response::html(PAGE),
            _ => Response::not_found(),
        })
        .bind(addr.as_str())?;
    println!("open http://{}/", server.local_addr());

    let hub = server.broadcaster();
    std::thread::spawn(move || {
        for n in 1u64.. {
            let _ = hub.send(Event::new(n.to_string()));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(1500));
            let dropped: Vec<Client> = std::mem::take(&mut *clients.lock().unwrap());
            for client in dropped {
                client.close();
            }
        }
    });
    server.wait()?;
    Ok(())
}
