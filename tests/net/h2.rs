//! A blocking HTTP/2 client for the integration tests, made of ssehub's own frame codec and
//! HPACK (their exactness is tested against RFC vectors and h2spec elsewhere): prior knowledge
//! over a real socket, every read bounded by [`TIMEOUT`].

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use ssehub::h2::frame::{self, Frame, Setting};
use ssehub::h2::{ErrorCode, MAX_FRAME_SIZE_LIMIT, PREFACE, hpack};
use ssehub::{Decoder, OwnedItem};

use super::TIMEOUT;

/// The window the client gives the server, per stream and for the connection.
const WINDOW: u32 = 1 << 24;

/// A frame as the client reads it, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Headers { stream: u32, fields: Vec<(String, String)>, end: bool },
    Data { stream: u32, data: Vec<u8>, end: bool },
    Rst { stream: u32, code: ErrorCode },
    GoAway { last: u32, code: ErrorCode },
}

/// One HTTP/2 connection to a server.
pub struct H2 {
    sock: TcpStream,
    enc: hpack::Encoder,
    dec: hpack::Decoder,
    buf: Vec<u8>,
    /// Each stream's event-stream decoder, for [`H2::items`].
    decoders: Vec<(u32, Decoder, Vec<OwnedItem>)>,
}

impl H2 {
    /// Connects with prior knowledge: the preface, our SETTINGS, a large connection window.
    pub fn connect(addr: SocketAddr) -> H2 {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(TIMEOUT)).unwrap();
        sock.set_nodelay(true).unwrap();
        let mut h2 = H2 {
            sock,
            enc: hpack::Encoder::new(4096),
            dec: hpack::Decoder::new(4096),
            buf: Vec::new(),
            decoders: Vec::new(),
        };
        let mut out = PREFACE.to_vec();
        frame::encode_settings(&[Setting::InitialWindowSize(WINDOW)], &mut out);
        frame::encode_window_update(0, WINDOW, &mut out);
        h2.send(&out);
        h2
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    /// Sends a request on `stream`: `fields` after the pseudo-header fields, then `body`.
    pub fn request(&mut self, stream: u32, method: &str, path: &str, fields: &[(&str, &str)], body: &[u8]) {
        let mut all = vec![(":method", method), (":scheme", "http"), (":authority", "test"), (":path", path)];
        all.extend_from_slice(fields);
        let mut block = Vec::new();
        self.enc.encode(all.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut block);
        let mut out = Vec::new();
        frame::encode_headers(stream, &block, body.is_empty(), 16_384, &mut out);
        if !body.is_empty() {
            frame::encode_data(stream, body, true, &mut out);
        }
        self.send(&out);
    }

    /// `GET path` on `stream`.
    pub fn get(&mut self, stream: u32, path: &str) {
        self.request(stream, "GET", path, &[], b"");
    }

    /// Resets `stream` (`CANCEL`), as a browser closing an `EventSource` does.
    pub fn cancel(&mut self, stream: u32) {
        let mut out = Vec::new();
        frame::encode_rst_stream(stream, ErrorCode::Cancel, &mut out);
        self.send(&out);
    }

    /// The next frame that matters (SETTINGS are acknowledged, PINGs answered, window updates
    /// skipped); `None` at the end of the connection or after [`TIMEOUT`] of silence.
    pub fn next(&mut self) -> Option<Got> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(got) = self.parse() {
                return Some(got);
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0; 16 * 1024];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// One frame from the buffer, if whole, handled or returned.
    fn parse(&mut self) -> Option<Got> {
        loop {
            let buf = std::mem::take(&mut self.buf);
            let (got, used, reply) = match frame::decode(&buf, MAX_FRAME_SIZE_LIMIT)
                .expect("the server's frames decode")
            {
                None => {
                    self.buf = buf;
                    return None;
                }
                Some((f, used)) => {
                    let mut reply = Vec::new();
                    let got = match f {
                        Frame::Settings(s) if !s.ack => {
                            frame::encode_settings_ack(&mut reply);
                            None
                        }
                        Frame::Ping(p) if !p.ack => {
                            frame::encode_ping_ack(p.data, &mut reply);
                            None
                        }
                        Frame::Headers(h) => {
                            assert!(h.end_headers, "the test server's heads fit one frame");
                            let mut fields = Vec::new();
                            self.dec
                                .decode(h.fragment, |f| {
                                    fields.push((
                                        String::from_utf8_lossy(f.name).into_owned(),
                                        String::from_utf8_lossy(f.value).into_owned(),
                                    ))
                                })
                                .expect("the server's header block decodes");
                            Some(Got::Headers { stream: h.stream_id, fields, end: h.end_stream })
                        }
                        Frame::Data(d) => {
                            Some(Got::Data { stream: d.stream_id, data: d.data.to_vec(), end: d.end_stream })
                        }
                        Frame::RstStream(r) => Some(Got::Rst { stream: r.stream_id, code: r.code }),
                        Frame::GoAway(g) => Some(Got::GoAway { last: g.last_stream_id, code: g.code }),
                        _ => None,
                    };
                    (got, used, reply)
                }
            };
            self.buf = buf[used..].to_vec();
            if !reply.is_empty() {
                self.send(&reply);
            }
            if let Some(Got::Data { stream, data, .. }) = &got {
                // Keep the server's windows open: what it sent is taken.
                if !data.is_empty() {
                    let mut out = Vec::new();
                    frame::encode_window_update(0, data.len() as u32, &mut out);
                    frame::encode_window_update(*stream, data.len() as u32, &mut out);
                    self.send(&out);
                }
            }
            if got.is_some() {
                return got;
            }
        }
    }

    /// The answer's head on `stream`: its fields (`:status` first), waiting past other frames
    /// (kept for [`H2::items`]).
    pub fn head(&mut self, stream: u32) -> Vec<(String, String)> {
        loop {
            match self.next() {
                Some(Got::Headers { stream: s, fields, .. }) if s == stream => return fields,
                Some(other) => self.keep(other),
                None => panic!("no head on stream {stream}"),
            }
        }
    }

    /// A complete answer on `stream`: status and body.
    pub fn response(&mut self, stream: u32) -> (u16, Vec<u8>) {
        let head = self.head(stream);
        let status = head[0].1.parse().unwrap();
        let mut body = Vec::new();
        loop {
            match self.next() {
                Some(Got::Data { stream: s, data, end }) if s == stream => {
                    body.extend_from_slice(&data);
                    if end {
                        return (status, body);
                    }
                }
                Some(Got::Headers { stream: s, end: true, .. }) if s == stream => return (status, body),
                Some(other) => self.keep(other),
                None => panic!("the answer on stream {stream} did not end"),
            }
        }
    }

    /// `n` event-stream items of `stream` (decoded from its DATA frames).
    pub fn items(&mut self, stream: u32, n: usize) -> Vec<OwnedItem> {
        loop {
            if let Some((_, _, items)) = self.decoders.iter_mut().find(|(s, ..)| *s == stream) {
                if items.len() >= n {
                    return items.drain(..n).collect();
                }
            }
            match self.next() {
                Some(got) => self.keep(got),
                None => panic!("stream {stream}: fewer than {n} items"),
            }
        }
    }

    /// Waits for `stream` to be reset by the server; its code.
    pub fn reset_of(&mut self, stream: u32) -> Option<ErrorCode> {
        loop {
            match self.next()? {
                Got::Rst { stream: s, code } if s == stream => return Some(code),
                other => self.keep(other),
            }
        }
    }

    /// Files a frame read while waiting for another: event bytes go to their stream's decoder.
    fn keep(&mut self, got: Got) {
        if let Got::Data { stream, data, .. } = got {
            let at = match self.decoders.iter().position(|(s, ..)| *s == stream) {
                Some(at) => at,
                None => {
                    self.decoders.push((stream, Decoder::new(), Vec::new()));
                    self.decoders.len() - 1
                }
            };
            let (_, decoder, items) = &mut self.decoders[at];
            decoder.feed(&data, |item| items.push(item.to_owned())).expect("a decodable event stream");
        }
    }
}
