//! `ssehub decode [URL | FILE]`: an event stream in, one JSON object per item out.
//!
//! Reads an `http://` URL (a `GET` with `Accept: text/event-stream`; the response must be `200`
//! with that content type, its chunked, `Content-Length` or close-delimited body is followed to
//! its end), FILE, or standard input; feeds every read to a [`Decoder`] and prints each item as a
//! line of JSON, flushing after every read so that events show live:
//!
//! ```text
//! {"type":"message","data":"a\nb","id":""}     a dispatched event (id = the last event ID)
//! {"retry":3000}                               a retry field that set the reconnection time
//! {"comment":"ok"}                             with --comments: a comment line (`:ok`, `: ok`)
//! ```
//!
//! The library's decoder reports no comments (the spec ignores them), so `--comments` finds
//! comment lines itself ([`Comments`]) and feeds the decoder up to the end of each, so that every
//! item comes out in stream order. A comment's text is what follows the colon, one leading
//! space removed (as for a field value), bytes that are not UTF-8 replaced by U+FFFD.
//!
//! The URL reading reuses `bench`'s URL parser and response framing (`bench::url`,
//! `bench::stream::Response`); it is plain blocking TCP.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use ssehub::{Decoder, Item};

use crate::bench::stream::{End, Response, Stop};
use crate::bench::url::{Header, Url};
use crate::units;

/// How long connecting to a URL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The stream to read: an http:// URL, a FILE, or standard input when absent or `-`.
    #[arg(value_name = "URL|FILE")]
    pub input: Option<PathBuf>,
    /// The longest line, and the largest event data, accepted (1MiB, 64k; a bare number is bytes).
    #[arg(long, default_value = "1MiB", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes_nonzero)]
    pub max_size: usize,
    /// Print comment lines too, as {"comment":"..."}.
    #[arg(long)]
    pub comments: bool,
    /// With a URL: a request header, as 'Name: value' (repeatable; e.g. 'Last-Event-ID: 42').
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = Header::parse)]
    pub headers: Vec<Header>,
}

/// Why `decode` stopped early; `main` prints it on stderr and exits non-zero.
#[derive(Debug)]
pub enum Error {
    Open(PathBuf, io::Error),
    Read(io::Error),
    Decode(ssehub::DecodeError),
    Url(String),
    Connect(String, io::Error),
    /// The server's answer was not an event stream, or its body broke off.
    Response(String, String),
    HeadersWithoutUrl,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Open(path, e) => write!(f, "cannot open {}: {e}", path.display()),
            Error::Read(e) => write!(f, "read error: {e}"),
            Error::Decode(e) => write!(f, "{e}"),
            Error::Url(e) => write!(f, "bad URL {e}"),
            Error::Connect(url, e) => write!(f, "cannot connect to {url}: {e}"),
            Error::Response(url, why) => write!(f, "{url}: {why}"),
            Error::HeadersWithoutUrl => f.write_str("-H headers are sent with a URL only"),
        }
    }
}

pub fn run(args: Args) -> Result<(), Error> {
    let stdout = io::stdout();
    let mut out = Printer::new(
        Decoder::with_max_size(args.max_size),
        args.comments,
        io::BufWriter::with_capacity(64 * 1024, stdout.lock()),
    );
    let url = args.input.as_ref().and_then(|p| p.to_str()).filter(|s| is_url(s));
    if let Some(url) = url {
        return read_url(url, &args.headers, &mut out);
    }
    if !args.headers.is_empty() {
        return Err(Error::HeadersWithoutUrl);
    }
    let mut input: Box<dyn Read> = match args.input {
        Some(path) if path.as_os_str() != "-" => {
            Box::new(File::open(&path).map_err(|e| Error::Open(path, e))?)
        }
        _ => Box::new(io::stdin().lock()),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        out.feed(&buf[..n]).map_err(Error::Decode)?;
        // A closed stdout (`| head`) ends the command quietly, like other filters.
        if !out.flush() {
            return Ok(());
        }
    }
    out.finish();
    Ok(())
}

/// Whether a `decode` argument names a URL rather than a file: it starts with a scheme
/// (`http://`, and `https://`, refused by the URL parser with its reason).
fn is_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// GET `url` and decode the body of its event-stream response until it ends.
fn read_url<W: Write>(url: &str, headers: &[Header], out: &mut Printer<W>) -> Result<(), Error> {
    let parsed = Url::parse(url).map_err(|e| Error::Url(format!("{url}: {e}")))?;
    let connect = |e| Error::Connect(url.to_owned(), e);
    let mut sock = connect_any(&parsed).map_err(connect)?;
    sock.write_all(&parsed.request("decode", headers)).map_err(connect)?;
    let mut response = Response::new();
    let mut buf = vec![0u8; 64 * 1024];
    let stop = loop {
        let n = match sock.read(&mut buf) {
            Ok(0) => break response.eof(),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        let fed = response.feed(&buf[..n], &mut |payload: &[u8]| out.feed(payload));
        if !out.flush() {
            return Ok(());
        }
        if let Err(stop) = fed {
            break stop;
        }
    };
    match stop {
        Stop::Ended(End::Eof | End::LastChunk | End::LengthReached) => {
            out.finish();
            Ok(())
        }
        Stop::Ended(End::Decode(e)) => Err(Error::Decode(e)),
        Stop::Ended(e) => Err(Error::Response(url.to_owned(), e.to_string())),
        Stop::Refused(why) => Err(Error::Response(url.to_owned(), format!("not an event stream: {why}"))),
    }
}

/// Connects to the first of the URL's addresses that answers.
fn connect_any(url: &Url) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::NotFound, format!("{} resolves to no address", url.host));
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(sock) => return Ok(sock),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The decoder and the output: items (and comments, with `--comments`) as JSON lines.
struct Printer<W: Write> {
    decoder: Decoder,
    comments: Option<Comments>,
    out: W,
    line: Vec<u8>,
    /// A write failed: the reader is gone, so nothing more is written.
    closed: bool,
}

impl<W: Write> Printer<W> {
    fn new(decoder: Decoder, comments: bool, out: W) -> Printer<W> {
        Printer {
            decoder,
            comments: comments.then(Comments::new),
            out,
            line: Vec::with_capacity(256),
            closed: false,
        }
    }

    /// Decodes the next bytes of the stream, writing what they complete.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ssehub::DecodeError> {
        let Printer { decoder, comments, out, line, closed } = self;
        let mut emit = |line: &mut Vec<u8>| {
            if !*closed && out.write_all(line).is_err() {
                *closed = true;
            }
        };
        let Some(scanner) = comments else {
            return decoder.feed(bytes, |item| {
                line.clear();
                json_line(&item, line);
                emit(line);
            });
        };
        while !bytes.is_empty() {
            let (upto, comment) = match scanner.next(bytes) {
                Some((end, text)) => (end, Some(text)),
                None => (bytes.len(), None),
            };
            decoder.feed(&bytes[..upto], |item| {
                line.clear();
                json_line(&item, line);
                emit(line);
            })?;
            if let Some(text) = comment {
                line.clear();
                comment_line(text, line);
                emit(line);
            }
            bytes = &bytes[upto..];
        }
        Ok(())
    }

    /// Flushes what was written; `false` once the output is closed.
    fn flush(&mut self) -> bool {
        if !self.closed && self.out.flush().is_err() {
            self.closed = true;
        }
        !self.closed
    }

    /// The end of the stream: an event left without its blank line is dropped, as the spec says.
    fn finish(&mut self) {
        self.decoder.finish();
    }
}

/// The comment lines of an event stream as it arrives, across reads split anywhere: a line
/// whose first character is `:` (after the stream's one optional byte-order mark), ended by CR,
/// LF or CRLF as every line is.
struct Comments {
    line: Line,
    /// The last byte seen was a CR: an LF next belongs to it.
    after_cr: bool,
    text: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// At the start of the stream, this many bytes of a byte-order mark matched.
    Bom(usize),
    Start,
    Comment,
    Other,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl Comments {
    fn new() -> Comments {
        Comments { line: Line::Bom(0), after_cr: false, text: Vec::new() }
    }

    /// Scans `bytes`: the length of the prefix that ends with the next comment line's ending,
    /// and that comment's text; `None` when `bytes` complete no comment line (the state carries
    /// to the next call).
    fn next(&mut self, bytes: &[u8]) -> Option<(usize, &[u8])> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                i += 1;
                continue;
            }
            match self.line {
                Line::Bom(n) if b == BOM[n] => {
                    self.line = if n + 1 == BOM.len() { Line::Start } else { Line::Bom(n + 1) };
                    i += 1;
                }
                // Not a byte-order mark: this byte starts the first line (or continues it).
                Line::Bom(0) => self.line = Line::Start,
                Line::Bom(_) => self.line = Line::Other,
                Line::Start => {
                    self.line = match b {
                        b':' => {
                            self.text.clear();
                            Line::Comment
                        }
                        b'\r' | b'\n' => {
                            self.after_cr = b == b'\r';
                            Line::Start
                        }
                        _ => Line::Other,
                    };
                    i += 1;
                }
                Line::Other | Line::Comment => {
                    let rest = &bytes[i..];
                    let Some(k) = memchr::memchr2(b'\r', b'\n', rest) else {
                        if self.line == Line::Comment {
                            self.text.extend_from_slice(rest);
                        }
                        return None;
                    };
                    self.after_cr = rest[k] == b'\r';
                    let was = std::mem::replace(&mut self.line, Line::Start);
                    i += k + 1;
                    if was == Line::Comment {
                        self.text.extend_from_slice(&rest[..k]);
                        return Some((i, &self.text));
                    }
                }
            }
        }
        None
    }
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

/// Appends `{"comment":"..."}` and a newline for a comment line's text (after the colon).
fn comment_line(text: &[u8], out: &mut Vec<u8>) {
    let text = text.strip_prefix(b" ").unwrap_or(text);
    out.extend_from_slice(b"{\"comment\":");
    json_string(&String::from_utf8_lossy(text), out);
    out.extend_from_slice(b"}\n");
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
        comment_line(b" ok \"q\"", &mut out);
        comment_line(b"  two", &mut out);
        comment_line(b"\xff", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"type\":\"message\",\"data\":\"a\\nb\\\"\",\"id\":\"\"}\n{\"retry\":3000}\n\
             {\"comment\":\"ok \\\"q\\\"\"}\n{\"comment\":\" two\"}\n{\"comment\":\"\u{fffd}\"}\n"
        );
    }

    /// Decodes `parts` (with comments or not) and returns the output.
    fn decode(comments: bool, parts: &[&[u8]]) -> String {
        let mut p = Printer::new(Decoder::new(), comments, Vec::new());
        for part in parts {
            p.feed(part).unwrap();
        }
        p.finish();
        String::from_utf8(p.out).unwrap()
    }

    const STREAM: &[u8] = b"\xef\xbb\xbf:ok\r\n\r\ndata: a\r\n: inside\r\ndata: b\r\r: after\n\
        retry: 3000\n:\nid: 7\ndata:c\n\n:x: not a field\ndata: :no comment\n\n: last";
    const WANT: &str = "{\"comment\":\"ok\"}\n{\"comment\":\"inside\"}\n\
        {\"type\":\"message\",\"data\":\"a\\nb\",\"id\":\"\"}\n{\"comment\":\"after\"}\n{\"retry\":3000}\n\
        {\"comment\":\"\"}\n{\"type\":\"message\",\"data\":\"c\",\"id\":\"7\"}\n{\"comment\":\"x: not a field\"}\n\
        {\"type\":\"message\",\"data\":\":no comment\",\"id\":\"7\"}\n";

    #[test]
    fn comments_in_stream_order_at_every_split() {
        assert_eq!(decode(true, &[STREAM]), WANT);
        for i in 0..=STREAM.len() {
            assert_eq!(decode(true, &[&STREAM[..i], &STREAM[i..]]), WANT, "split at {i}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode(true, &bytes), WANT, "byte by byte");
    }

    #[test]
    fn without_comments_only_items() {
        let items: String =
            WANT.lines().filter(|l| !l.starts_with("{\"comment\"")).map(|l| format!("{l}\n")).collect();
        assert_eq!(decode(false, &[STREAM]), items);
    }

    #[test]
    fn a_crlf_split_between_reads_starts_no_line() {
        // The LF after a CR ends the same line; the ':' after it starts a comment.
        assert_eq!(decode(true, &[b"data: a\r", b"\n:c\n"]), "{\"comment\":\"c\"}\n");
        // Without a BOM, or with part of one, the first line is no comment.
        assert_eq!(decode(true, &[b"\xef", b"\xbb:x\n"]), "");
        assert_eq!(decode(true, &[b"\xef\xbb", b"\xbf", b": x\n"]), "{\"comment\":\"x\"}\n");
        assert_eq!(decode(true, &[b"x:\n:y\n"]), "{\"comment\":\"y\"}\n");
    }

    #[test]
    fn too_long_comment_lines_are_refused_like_any_line() {
        let mut p = Printer::new(Decoder::with_max_size(8), true, Vec::new());
        assert!(p.feed(b":abcd").is_ok());
        assert!(p.feed(b"efghijkl\n").is_err());
        assert_eq!(p.out, b"");
    }

    #[test]
    fn urls_and_files() {
        assert!(is_url("http://127.0.0.1:8080/sse"));
        assert!(is_url("HTTP://h/"));
        assert!(is_url("https://h/"));
        assert!(!is_url("-"));
        assert!(!is_url("stream.txt"));
        assert!(!is_url("./http:/x"));
        assert!(!is_url("é"));
    }
}
