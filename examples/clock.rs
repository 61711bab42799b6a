//! The guide's demo in library form: every client gets the time once a second, and `/` serves a
//! page whose `EventSource` shows it.
//!
//! ```text
//! cargo run --example clock      # then open http://127.0.0.1:8080/
//! ```
//!
//! Like the Node `sse` package's `connection` callback with a `setInterval` per client, except
//! that one thread and one encoding serve every client (see `broadcast.rs` for per-client sends).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssehub::{Event, Response, Server};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>clock</title>
<h1 id="t">…</h1>
<script>
  new EventSource('/sse').onmessage = (e) => {
    document.getElementById('t').textContent = new Date(Number(e.data)).toLocaleTimeString();
  };
</script>"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .path("/sse")
        .on_connect(|client, request| {
            eprintln!("client {} connected (Last-Event-ID {:?})", client.id(), request.last_event_id());
        })
        .on_disconnect(|client| eprintln!("client {} left", client.id()))
        .fallback(|request| match request.path.as_str() {
            "/" => Response::html(PAGE),
            _ => Response::not_found(),
        })
        .bind("127.0.0.1:8080")?;
    println!("open http://{}/", server.local_addr());

    let everyone = server.broadcaster();
    std::thread::spawn(move || {
        loop {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            let _ = everyone.send(Event::new(now.as_millis().to_string()));
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    server.wait()?;
    Ok(())
}
