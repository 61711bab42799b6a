//! `ssehub decode [FILE]`: an event stream in, one JSON object per item out.
//!
//! Reads FILE (or standard input), feeds every read to a [`Decoder`] and prints each item as a
//! line of JSON, flushing after every read so that `curl -N URL | ssehub decode` shows events
//! live:
//!
//! ```text
//! {"type":"message","data":"a\nb","id":""}     a dispatched event (id = the last event ID)
//! {"retry":3000}                               a retry field that set the reconnection time
//! ```

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::path::PathBuf;

use ssehub::{Decoder, Item};

/// Why `decode` stopped early; `main` prints it on stderr and exits non-zero.
#[derive(Debug)]
pub enum Error {
    Open(PathBuf, io::Error),
    Read(io::Error),
    Decode(ssehub::DecodeError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Open(path, e) => write!(f, "cannot open {}: {e}", path.display()),
            Error::Read(e) => write!(f, "read error: {e}"),
            Error::Decode(e) => write!(f, "{e}"),
        }
    }
}

pub fn run(file: Option<PathBuf>, max_size: usize) -> Result<(), Error> {
    let mut input: Box<dyn Read> = match file {
        Some(path) if path.as_os_str() != "-" => {
            Box::new(File::open(&path).map_err(|e| Error::Open(path, e))?)
        }
        _ => Box::new(io::stdin().lock()),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut decoder = Decoder::with_max_size(max_size);
    let mut buf = vec![0u8; 64 * 1024];
    let mut line = Vec::with_capacity(256);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        let mut write_err = None;
        let fed = decoder.feed(&buf[..n], |item| {
            if write_err.is_some() {
                return;
            }
            line.clear();
            json_line(&item, &mut line);
            if let Err(e) = out.write_all(&line) {
                write_err = Some(e);
            }
        });
        // A closed stdout (`| head`) ends the command quietly, like other filters.
        if write_err.is_some() || out.flush().is_err() {
            return Ok(());
        }
        fed.map_err(Error::Decode)?;
    }
    decoder.finish();
    Ok(())
}

/// Appends one item as a JSON object and a newline.
fn json_line(item: &Item<'_>, out: &mut Vec<u8>) {
    match item {
        Item::Event(ev) => {
            out.extend_from_slice(b"{\"type\":");
            json_string(ev.event_type, out);
            out.extend_from_slice(b",\"data\":");
            json_string(ev.data, out);
            out.extend_from_slice(b",\"id\":");
            json_string(ev.last_event_id, out);
            out.extend_from_slice(b"}\n");
        }
        Item::Retry(ms) => {
            out.extend_from_slice(format!("{{\"retry\":{ms}}}\n").as_bytes());
        }
    }
}

fn json_string(s: &str, out: &mut Vec<u8>) {
    // Writing a &str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, s).expect("serializing a str into a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_in_documented_order_and_escaped() {
        let mut out = Vec::new();
        let ev = ssehub::MessageEvent { event_type: "message", data: "a\nb\"", last_event_id: "" };
        json_line(&Item::Event(ev), &mut out);
        json_line(&Item::Retry(3000), &mut out);
        assert_eq!(out, b"{\"type\":\"message\",\"data\":\"a\\nb\\\"\",\"id\":\"\"}\n{\"retry\":3000}\n");
    }
}
