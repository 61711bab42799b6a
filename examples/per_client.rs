//! Per-client sends, as with the Node `sse` package's `client.send`: each client gets its own
//! counter, on its own thread, until it goes away, which `send` reports.
//!
//! ```text
//! cargo run --example per_client   # then: curl -N http://127.0.0.1:8080/sse?from=10
//! ```

use std::time::Duration;

use ssehub::{Event, SendError, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .verify(|request| match request.query_param("from") {
            Some(from) if from.parse::<u64>().is_err() => {
                Err(ssehub::Response::error(400, "from must be a number"))
            }
            _ => Ok(()),
        })
        .on_connect(|client, request| {
            let mut n: u64 = request.query_param("from").and_then(|f| f.parse().ok()).unwrap_or(0);
            std::thread::spawn(move || {
                loop {
                    let event =
                        Event::new(format!("count {n}\n(a second line)")).event("count").id(n.to_string());
                    match client.send(event) {
                        Ok(()) => n += 1,
                        Err(SendError::Disconnected) => break,
                        Err(e) => panic!("{e}"),
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                eprintln!("client {} gone after {n}", client.id());
            });
        })
        .bind("127.0.0.1:8080")?;
    println!("curl -N http://{}/sse", server.local_addr());
    server.wait()?;
    Ok(())
}
