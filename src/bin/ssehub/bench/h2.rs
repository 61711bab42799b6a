//! `ssehub bench --h2`: one HTTP/2 connection's client protocol, without the socket: the
//! opening (preface, `SETTINGS`, a connection `WINDOW_UPDATE`, one `HEADERS` per stream), then
//! frames in → each stream's response head → its `DATA` → its own `ssehub::Decoder` → events.
//!
//! ```text
//! opening(url, M) ─► PREFACE, SETTINGS, WINDOW_UPDATE(0), HEADERS(1), HEADERS(3) ... (written once)
//! bytes ─► Client::feed ─► ssehub::h2::frame::decode ─► Frame
//!          HEADERS (+ CONTINUATION) ─► hpack::Decoder ─► stream::accept ─► Established | Refused
//!          DATA(stream) ─► that stream's Decoder ─► Event(data, last event id)
//!          SETTINGS ─► ACK   PING ─► ACK   DATA consumed ─► WINDOW_UPDATE    (Client::output)
//!          RST_STREAM, END_STREAM ─► Ended | Refused   GOAWAY ─► streams above its id refused
//! ```
//! It is to HTTP/2 what [`Stream`](super::stream::Stream) is to HTTP/1.1, and the bench worker
//! drives both alike: it writes the opening as it writes an HTTP/1.1 request, hands every read
//! to [`Client::feed`], counts what comes back through one callback (stream index, what
//! [`Happened`]), and writes [`Client::output`] after each read.
//!
//! The opening is the same octets for every connection of a run (a fresh HPACK encoder makes
//! the same blocks), so [`opening`] builds it once. Streams are numbered 1, 3, 5, ... (index
//! `k` is stream `2k + 1`), all opened at once with `END_STREAM` (a GET has no body).
//!
//! Flow control is kept out of the way, since a load generator must never be the reason a
//! server waits: the opening advertises the largest window (`SETTINGS_INITIAL_WINDOW_SIZE` and
//! a connection `WINDOW_UPDATE` of 2^31 - 1), and every [`UPDATE_EVERY`] octets of `DATA`
//! consumed on a stream, or on the connection, are given back at once.
//!
//! Frames are parsed where they lie in the read buffer; only a frame split across reads is
//! copied (just that frame, into a per-connection buffer), and the event data reaches the
//! callback borrowed from the stream's decoder, so nothing is allocated per event.

use std::borrow::Cow;

use ssehub::h2::frame::{self, Frame, FrameError, HEAD_LEN, Setting};
use ssehub::h2::{self as h2, ErrorCode, hpack};
use ssehub::{Decoder, Item};

use super::stream::{Refusal, accept};
use super::url::{Header, Url};

/// The largest frame payload we accept: the default, which we never raise.
const MAX_FRAME_SIZE: u32 = h2::DEFAULT_MAX_FRAME_SIZE;
/// Octets of `DATA` consumed on a stream (or on the connection) before we give them back with a
/// `WINDOW_UPDATE`; with a window of 2^31 - 1, a server always has over 2 GiB of credit.
pub const UPDATE_EVERY: u32 = 1 << 24;
/// The most streams one connection may open: the stream ids 1, 3, ... 2^31 - 1.
pub const MAX_STREAMS: usize = 1 << 30;
/// Request headers HTTP/2 forbids (RFC 9113 §8.2.2: connection-specific).
const CONNECTION_SPECIFIC: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/// The octets every connection sends first: the preface, our `SETTINGS` (no push, the largest
/// window), a connection `WINDOW_UPDATE` up to the largest window, then one `HEADERS` frame per
/// stream: `GET` with `:authority`, `accept: text/event-stream`, `cache-control: no-cache` and
/// `user-agent: ssehub-AGENT/VERSION`, then `extra` (a header of `extra` named like a default
/// one replaces it; `Host` replaces `:authority`). `Err` is a one-line reason.
pub fn opening(url: &Url, agent: &str, extra: &[Header], streams: usize) -> Result<Vec<u8>, String> {
    if streams == 0 || streams > MAX_STREAMS {
        return Err(format!("--streams-per-connection must be from 1 to {MAX_STREAMS}, not {streams}"));
    }
    let user_agent = format!("ssehub-{agent}/{}", env!("CARGO_PKG_VERSION"));
    let mut fields: Vec<(String, String)> = vec![
        (":method".into(), "GET".into()),
        (":scheme".into(), if url.tls { "https" } else { "http" }.into()),
        (":authority".into(), url.authority.clone()),
        (":path".into(), url.target.clone()),
    ];
    let defaults =
        [("accept", "text/event-stream"), ("cache-control", "no-cache"), ("user-agent", user_agent.as_str())];
    for (name, value) in defaults {
        if !extra.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
            fields.push((name.into(), value.into()));
        }
    }
    for h in extra {
        let name = h.name.to_ascii_lowercase();
        if CONNECTION_SPECIFIC.contains(&name.as_str()) || (name == "te" && h.value != "trailers") {
            return Err(format!("-H {}: a connection-specific header cannot be sent over HTTP/2", h.name));
        }
        match name.as_str() {
            "host" => fields[2].1 = h.value.clone(),
            _ => fields.push((name, h.value.clone())),
        }
    }

    let mut out = Vec::with_capacity(128 + streams * 16);
    out.extend_from_slice(h2::PREFACE);
    frame::encode_settings(
        &[Setting::EnablePush(false), Setting::InitialWindowSize(h2::MAX_WINDOW_SIZE)],
        &mut out,
    );
    frame::encode_window_update(0, h2::MAX_WINDOW_SIZE - h2::DEFAULT_INITIAL_WINDOW_SIZE, &mut out);
    let mut encoder = hpack::Encoder::new(h2::DEFAULT_HEADER_TABLE_SIZE);
    let mut block = Vec::new();
    for k in 0..streams {
        block.clear();
        encoder.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut block);
        frame::encode_headers(stream_id(k), &block, true, MAX_FRAME_SIZE, &mut out);
    }
    Ok(out)
}

/// The id of the stream at index `k`.
fn stream_id(k: usize) -> u32 {
    (2 * k + 1) as u32
}

/// What happened on one stream, as [`Client::feed`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Happened<'a> {
    /// Its response head was accepted as an event stream.
    Established,
    /// An event: its data and the last event ID.
    Event { data: &'a str, id: &'a str },
    /// It ended before its head was accepted, for this reason (it counts as failed).
    Refused(&'a str),
    /// It ended after its head was accepted, for this reason.
    Ended(&'a str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Awaiting the response head.
    Pending,
    Open,
    Done,
}

#[derive(Clone, Debug)]
struct StreamState {
    state: State,
    decoder: Decoder,
    /// `DATA` octets consumed since the last `WINDOW_UPDATE` on this stream.
    unacked: u32,
}

/// One connection's HTTP/2 client; see the [module documentation](self).
#[derive(Debug)]
pub struct Client {
    streams: Vec<StreamState>,
    /// Streams not ended yet.
    live: usize,
    hpack: hpack::Decoder,
    /// A frame split across reads: its octets so far.
    partial: Vec<u8>,
    /// A header block awaiting its `CONTINUATION`s: the stream, `END_STREAM`, the fragments.
    block: Option<(u32, bool, Vec<u8>)>,
    /// Frames to send (acknowledgements, window updates, resets).
    out: Vec<u8>,
    /// Connection-level `DATA` octets consumed since our last `WINDOW_UPDATE` on stream 0.
    unacked: u32,
    /// The server's first frame (a `SETTINGS`) has arrived.
    preface_seen: bool,
    /// The `GOAWAY` the server sent, as a reason.
    goaway: Option<String>,
    update_every: u32,
}

impl Client {
    /// A client whose `streams` were opened by [`opening`].
    pub fn new(streams: usize) -> Client {
        Client::with_update_every(streams, UPDATE_EVERY)
    }

    fn with_update_every(streams: usize, update_every: u32) -> Client {
        let stream = StreamState { state: State::Pending, decoder: Decoder::new(), unacked: 0 };
        Client {
            streams: vec![stream; streams],
            live: streams,
            hpack: hpack::Decoder::new(h2::DEFAULT_HEADER_TABLE_SIZE),
            partial: Vec::new(),
            block: None,
            out: Vec::new(),
            unacked: 0,
            preface_seen: false,
            goaway: None,
            update_every,
        }
    }

    /// The frames to send now (the caller writes them and drains what it wrote).
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Whether every stream has ended: the connection has nothing left to do.
    pub fn finished(&self) -> bool {
        self.live == 0
    }

    /// Why the connection is over when the server closed it.
    pub fn closed_reason(&self) -> String {
        match &self.goaway {
            Some(goaway) => format!("{goaway}, then closed by the server"),
            None if self.preface_seen => "closed by the server".to_owned(),
            None => Refusal::ClosedBeforeHead.to_string(),
        }
    }

    /// Takes the next bytes read from the socket, calling `on(stream index, what happened)` for
    /// what they complete. `Err` is why the whole connection is over (a connection error, a
    /// `GOAWAY` with an error code, a server that does not speak HTTP/2): the streams still
    /// open or pending end with that reason.
    pub fn feed(&mut self, mut bytes: &[u8], on: &mut impl FnMut(usize, Happened<'_>)) -> Result<(), String> {
        if !self.preface_seen && self.partial.is_empty() && bytes.starts_with(b"HTTP/1.") {
            let line = bytes.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
            let line: String = String::from_utf8_lossy(line).chars().take(60).collect();
            return Err(format!("the server answered in HTTP/1.x ({line}), not HTTP/2"));
        }
        if !self.partial.is_empty() {
            // Complete the split frame alone, then go on in place.
            let need = |partial: &[u8]| match partial {
                [a, b, c, ..] if partial.len() >= HEAD_LEN => {
                    HEAD_LEN + (usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c))
                }
                _ => HEAD_LEN,
            };
            while self.partial.len() < need(&self.partial) && !bytes.is_empty() {
                let want = need(&self.partial) - self.partial.len();
                if want > HEAD_LEN + MAX_FRAME_SIZE as usize {
                    break; // too large: decode says so below
                }
                let take = want.min(bytes.len());
                self.partial.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
            }
            let partial = std::mem::take(&mut self.partial);
            let used = self.frames(&partial, on)?;
            self.partial = partial;
            self.partial.drain(..used);
            if !self.partial.is_empty() {
                // Still incomplete (all of `bytes` went into it).
                debug_assert!(bytes.is_empty());
                return Ok(());
            }
        }
        let used = self.frames(bytes, on)?;
        self.partial.extend_from_slice(&bytes[used..]);
        Ok(())
    }

    /// Handles the whole frames at the start of `buf`; returns the octets they took.
    fn frames(&mut self, buf: &[u8], on: &mut impl FnMut(usize, Happened<'_>)) -> Result<usize, String> {
        let mut at = 0;
        loop {
            match frame::decode(&buf[at..], MAX_FRAME_SIZE) {
                Ok(None) => return Ok(at),
                Ok(Some((f, used))) => {
                    self.frame(f, on)?;
                    at += used;
                }
                Err(FrameError::Stream { stream_id, frame_len, violation }) => {
                    let reason = format!("stream error {}: {violation}", violation.code());
                    self.reset(stream_id, violation.code(), &reason, on);
                    at += frame_len;
                }
                Err(e @ FrameError::Connection(_)) => {
                    return Err(self.connection_error(e.code(), &e.to_string()));
                }
            }
        }
    }

    /// We end the connection: `GOAWAY` with `code`; returns the reason.
    fn connection_error(&mut self, code: ErrorCode, what: &str) -> String {
        frame::encode_goaway(0, code, b"", &mut self.out);
        format!("HTTP/2 {what}")
    }

    fn frame(&mut self, f: Frame<'_>, on: &mut impl FnMut(usize, Happened<'_>)) -> Result<(), String> {
        if !self.preface_seen {
            match f {
                Frame::Settings(s) if !s.ack => self.preface_seen = true,
                other => {
                    let what = format!(
                        "connection error: the server's first frame is {}, not SETTINGS",
                        other.kind()
                    );
                    return Err(self.connection_error(ErrorCode::ProtocolError, &what));
                }
            }
        }
        let in_block = self.block.as_ref().map(|(id, _, _)| *id);
        if let Some(id) = in_block {
            if !matches!(f, Frame::Continuation(c) if c.stream_id == id) {
                let what = format!("connection error: {} frame inside a header block", f.kind());
                return Err(self.connection_error(ErrorCode::ProtocolError, &what));
            }
        }
        match f {
            Frame::Settings(s) if !s.ack => frame::encode_settings_ack(&mut self.out),
            Frame::Ping(p) if !p.ack => frame::encode_ping_ack(p.data, &mut self.out),
            Frame::Headers(h) if h.end_headers => self.head(h.stream_id, h.fragment, h.end_stream, on)?,
            Frame::Headers(h) => self.block = Some((h.stream_id, h.end_stream, h.fragment.to_vec())),
            Frame::Continuation(c) => {
                let Some((id, end_stream, mut block)) = self.block.take() else {
                    let what = "connection error: CONTINUATION without HEADERS";
                    return Err(self.connection_error(ErrorCode::ProtocolError, what));
                };
                block.extend_from_slice(c.fragment);
                match c.end_headers {
                    true => self.head(id, &block, end_stream, on)?,
                    false => self.block = Some((id, end_stream, block)),
                }
            }
            Frame::Data(d) => self.data(d, on),
            Frame::RstStream(r) => {
                if let Some(k) = self.index(r.stream_id) {
                    self.end(k, &format!("RST_STREAM {}", r.code), on);
                }
            }
            Frame::GoAway(g) => {
                let debug = String::from_utf8_lossy(&g.debug_data[..g.debug_data.len().min(60)]).into_owned();
                let reason = match debug.is_empty() {
                    true => format!("GOAWAY {}", g.code),
                    false => format!("GOAWAY {} ({debug})", g.code),
                };
                // Streams above its id were never acted on; those below go on (a graceful
                // shutdown ends them), unless the server gave an error.
                for k in 0..self.streams.len() {
                    if stream_id(k) > g.last_stream_id || g.code != ErrorCode::NoError {
                        self.end(k, &reason, on);
                    }
                }
                if g.code != ErrorCode::NoError {
                    return Err(reason);
                }
                self.goaway = Some(reason);
            }
            Frame::PushPromise(_) => {
                let what = "connection error: PUSH_PROMISE, which our SETTINGS disabled";
                return Err(self.connection_error(ErrorCode::ProtocolError, what));
            }
            // Acknowledgements, window credit (we send no DATA), priorities, unknown types.
            Frame::Settings(_)
            | Frame::Ping(_)
            | Frame::WindowUpdate(_)
            | Frame::Priority(_)
            | Frame::Unknown(_) => {}
        }
        Ok(())
    }

    /// The index of one of our streams.
    fn index(&self, stream_id: u32) -> Option<usize> {
        let k = (stream_id as usize).checked_sub(1)? / 2;
        (stream_id % 2 == 1 && k < self.streams.len()).then_some(k)
    }

    /// A whole header block on `stream_id`.
    fn head(
        &mut self,
        stream_id: u32,
        block: &[u8],
        end_stream: bool,
        on: &mut impl FnMut(usize, Happened<'_>),
    ) -> Result<(), String> {
        // Decoded whatever the stream, so that the dynamic table stays in step with the server's.
        let fields = match self.hpack.decode_to_vec(block) {
            Ok(fields) => fields,
            Err(e) => match e.connection_error() {
                Some(code) => {
                    return Err(self.connection_error(code, &format!("connection error {code}: {e}")));
                }
                None => {
                    self.reset(stream_id, ErrorCode::Cancel, &format!("response head: {e}"), on);
                    return Ok(());
                }
            },
        };
        let Some(k) = self.index(stream_id) else { return Ok(()) };
        let header = |name: &str| {
            fields.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| String::from_utf8_lossy(v))
        };
        match self.streams[k].state {
            State::Pending => {
                let code = header(":status").and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
                if (100..200).contains(&code) && !end_stream {
                    return Ok(()); // informational: the real head follows
                }
                match accept(code, |name| header(name).map(|v| Cow::Owned(v.into_owned()))) {
                    Ok(()) => {
                        self.streams[k].state = State::Open;
                        on(k, Happened::Established);
                        if end_stream {
                            self.end(k, "stream ended (END_STREAM)", on);
                        }
                    }
                    Err(refusal) => self.reset(stream_id, ErrorCode::Cancel, &refusal.to_string(), on),
                }
            }
            State::Open if end_stream => self.end(k, "stream ended (trailers)", on),
            State::Open | State::Done => {}
        }
        Ok(())
    }

    fn data(&mut self, d: frame::Data<'_>, on: &mut impl FnMut(usize, Happened<'_>)) {
        let len = d.flow_len();
        self.unacked += len;
        if self.unacked >= self.update_every {
            frame::encode_window_update(0, self.unacked, &mut self.out);
            self.unacked = 0;
        }
        let Some(k) = self.index(d.stream_id) else { return };
        let stream = &mut self.streams[k];
        match stream.state {
            State::Done => return,
            State::Pending => {
                self.reset(d.stream_id, ErrorCode::ProtocolError, "DATA before the response head", on);
                return;
            }
            State::Open => {}
        }
        let fed = stream.decoder.feed(d.data, |item| {
            if let Item::Event(ev) = item {
                on(k, Happened::Event { data: ev.data, id: ev.last_event_id });
            }
        });
        if let Err(e) = fed {
            self.reset(d.stream_id, ErrorCode::Cancel, &format!("decode error: {e}"), on);
        } else if d.end_stream {
            self.end(k, "stream ended (END_STREAM)", on);
        } else {
            stream.unacked += len;
            if stream.unacked >= self.update_every {
                frame::encode_window_update(d.stream_id, stream.unacked, &mut self.out);
                stream.unacked = 0;
            }
        }
    }

    /// Stream `k` is over (the server ended or reset it, or the connection is going away).
    fn end(&mut self, k: usize, reason: &str, on: &mut impl FnMut(usize, Happened<'_>)) {
        let stream = &mut self.streams[k];
        let happened = match stream.state {
            State::Done => return,
            State::Pending => Happened::Refused(reason),
            State::Open => Happened::Ended(reason),
        };
        stream.state = State::Done;
        stream.decoder = Decoder::new(); // its buffers are freed
        self.live -= 1;
        on(k, happened);
    }

    /// We end stream `stream_id`: `RST_STREAM` with `code`, and it is over for `reason`.
    fn reset(
        &mut self,
        stream_id: u32,
        code: ErrorCode,
        reason: &str,
        on: &mut impl FnMut(usize, Happened<'_>),
    ) {
        if let Some(k) = self.index(stream_id).filter(|&k| self.streams[k].state != State::Done) {
            frame::encode_rst_stream(stream_id, code, &mut self.out);
            self.end(k, reason, on);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a feed reported, as text: `0 established`, `1 event 17 x (id 4)`, `2 refused ...`.
    fn feed(client: &mut Client, bytes: &[u8]) -> (Vec<String>, Result<(), String>) {
        let mut got = Vec::new();
        let r = client.feed(bytes, &mut |k, h| {
            got.push(match h {
                Happened::Established => format!("{k} established"),
                Happened::Event { data, id } => format!("{k} event {data} (id {id})"),
                Happened::Refused(why) => format!("{k} refused: {why}"),
                Happened::Ended(why) => format!("{k} ended: {why}"),
            })
        });
        (got, r)
    }

    fn head(encoder: &mut hpack::Encoder, stream: u32, status: &str, ct: &str, out: &mut Vec<u8>) {
        let mut block = Vec::new();
        encoder.encode([(&b":status"[..], status.as_bytes()), (b"content-type", ct.as_bytes())], &mut block);
        frame::encode_headers(stream, &block, false, MAX_FRAME_SIZE, out);
    }

    /// The opening decodes as the preface, our SETTINGS, the window, and M requests that the
    /// server's decoder reads back.
    #[test]
    fn the_opening_is_preface_settings_window_and_one_request_per_stream() {
        let url = Url::parse_any("https://example.com:8443/sse?x=1").unwrap();
        let extra =
            [Header::parse("Authorization: Bearer t").unwrap(), Header::parse("Host: other").unwrap()];
        let wire = opening(&url, "bench", &extra, 3).unwrap();
        assert_eq!(&wire[..24], h2::PREFACE);
        let mut rest = &wire[24..];
        let mut decoder = hpack::Decoder::new(4096);
        let mut requests = Vec::new();
        while let Some((f, used)) = frame::decode(rest, MAX_FRAME_SIZE).unwrap() {
            match f {
                Frame::Settings(s) => {
                    let settings: Vec<_> = s.iter().collect();
                    assert_eq!(
                        settings,
                        [Setting::EnablePush(false), Setting::InitialWindowSize(h2::MAX_WINDOW_SIZE)]
                    );
                }
                Frame::WindowUpdate(w) => {
                    assert_eq!((w.stream_id, w.increment), (0, h2::MAX_WINDOW_SIZE - 65_535))
                }
                Frame::Headers(h) => {
                    assert!(h.end_stream && h.end_headers);
                    let fields = decoder.decode_to_vec(h.fragment).unwrap();
                    let text: Vec<String> = fields
                        .iter()
                        .map(|(n, v)| {
                            format!("{}: {}", String::from_utf8_lossy(n), String::from_utf8_lossy(v))
                        })
                        .collect();
                    requests.push((h.stream_id, text));
                }
                other => panic!("{other:?}"),
            }
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(requests.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 3, 5]);
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            requests[2].1,
            [
                ":method: GET".to_owned(),
                ":scheme: https".into(),
                ":authority: other".into(),
                ":path: /sse?x=1".into(),
                "accept: text/event-stream".into(),
                "cache-control: no-cache".into(),
                format!("user-agent: ssehub-bench/{version}"),
                "authorization: Bearer t".into(),
            ]
        );
        assert_eq!(requests[0].1, requests[2].1);

        let e = opening(&url, "bench", &[Header::parse("Connection: close").unwrap()], 1).unwrap_err();
        assert_eq!(e, "-H Connection: a connection-specific header cannot be sent over HTTP/2");
        assert!(opening(&url, "bench", &[], 0).unwrap_err().starts_with("--streams-per-connection must be"));
    }

    /// A server's answer, split at every point: SETTINGS and PING acknowledged, heads accepted
    /// or refused, events routed to their stream, ends and resets reported.
    #[test]
    fn a_server_answer_split_anywhere() {
        let mut wire = Vec::new();
        frame::encode_settings(&[Setting::MaxConcurrentStreams(100)], &mut wire);
        frame::encode_ping([1, 2, 3, 4, 5, 6, 7, 8], &mut wire);
        let mut enc = hpack::Encoder::new(4096);
        head(&mut enc, 1, "200", "text/event-stream", &mut wire);
        head(&mut enc, 3, "200", "text/event-stream; charset=utf-8", &mut wire);
        head(&mut enc, 5, "404", "text/plain", &mut wire);
        frame::encode_data(3, b"id: 4\ndata: thr", false, &mut wire);
        frame::encode_data(1, b"data: one\n\n", false, &mut wire);
        frame::encode_data(3, b"ee\n\n", false, &mut wire);
        frame::encode_rst_stream(1, ErrorCode::Cancel, &mut wire);
        frame::encode_data(3, b"data: last\n\n", true, &mut wire);
        frame::encode_ping([9; 8], &mut wire); // after every stream ended: still answered
        let expected = [
            "0 established",
            "1 established",
            "2 refused: status 404",
            "0 event one (id )",
            "1 event three (id 4)",
            "0 ended: RST_STREAM CANCEL",
            "1 event last (id 4)",
            "1 ended: stream ended (END_STREAM)",
        ];
        for i in 0..=wire.len() {
            for j in i..=wire.len() {
                if j != i && j != wire.len() && (j - i) % 7 != 0 {
                    continue; // a sample of the three-way splits
                }
                let mut c = Client::new(3);
                let mut got = Vec::new();
                for part in [&wire[..i], &wire[i..j], &wire[j..]] {
                    let (g, r) = feed(&mut c, part);
                    assert_eq!(r, Ok(()), "split at {i}, {j}");
                    got.extend(g);
                }
                assert_eq!(got, expected, "split at {i}, {j}");
                assert!(c.finished());
                let mut out = Vec::new();
                frame::encode_settings_ack(&mut out);
                frame::encode_ping_ack([1, 2, 3, 4, 5, 6, 7, 8], &mut out);
                frame::encode_rst_stream(5, ErrorCode::Cancel, &mut out);
                frame::encode_ping_ack([9; 8], &mut out);
                assert_eq!(c.output(), &out, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn window_updates_give_back_what_was_consumed() {
        let mut c = Client::with_update_every(2, 100);
        let mut wire = Vec::new();
        frame::encode_settings(&[], &mut wire);
        let mut enc = hpack::Encoder::new(4096);
        head(&mut enc, 1, "200", "text/event-stream", &mut wire);
        head(&mut enc, 3, "200", "text/event-stream", &mut wire);
        let event = [b"data: ".as_slice(), &[b'x'; 54], b"\n\n"].concat(); // 62 octets
        for stream in [1, 3, 1] {
            frame::encode_data(stream, &event, false, &mut wire);
        }
        let (got, r) = feed(&mut c, &wire);
        assert_eq!((got.len(), r), (5, Ok(())));
        let mut out = Vec::new();
        frame::encode_settings_ack(&mut out);
        frame::encode_window_update(0, 124, &mut out); // after the second DATA
        frame::encode_window_update(1, 124, &mut out); // the stream's second
        assert_eq!(c.output(), &out);
    }

    #[test]
    fn continuation_goaway_and_errors() {
        // A head in HEADERS + CONTINUATION, then a graceful GOAWAY naming stream 1 only.
        let mut wire = Vec::new();
        frame::encode_settings(&[], &mut wire);
        let mut block = Vec::new();
        hpack::Encoder::new(4096)
            .encode([(&b":status"[..], &b"200"[..]), (b"content-type", b"text/event-stream")], &mut block);
        frame::encode_headers(1, &block, false, 5, &mut wire);
        frame::encode_goaway(1, ErrorCode::NoError, b"bye", &mut wire);
        let mut c = Client::new(2);
        let (got, r) = feed(&mut c, &wire);
        assert_eq!(r, Ok(()));
        assert_eq!(got, ["0 established", "1 refused: GOAWAY NO_ERROR (bye)"]);
        assert_eq!(c.closed_reason(), "GOAWAY NO_ERROR (bye), then closed by the server");

        // A GOAWAY with an error ends the connection.
        let mut wire = Vec::new();
        frame::encode_settings(&[], &mut wire);
        frame::encode_goaway(0, ErrorCode::EnhanceYourCalm, b"", &mut wire);
        let (got, r) = feed(&mut Client::new(1), &wire);
        assert_eq!(
            (got, r),
            (vec!["0 refused: GOAWAY ENHANCE_YOUR_CALM".to_owned()], Err("GOAWAY ENHANCE_YOUR_CALM".into()))
        );

        // An HTTP/1.1 server, a first frame that is not SETTINGS, an oversized frame.
        let (_, r) = feed(&mut Client::new(1), b"HTTP/1.1 505 HTTP Version Not Supported\r\n\r\n");
        assert_eq!(
            r.unwrap_err(),
            "the server answered in HTTP/1.x (HTTP/1.1 505 HTTP Version Not Supported), not HTTP/2"
        );
        let mut ping = Vec::new();
        frame::encode_ping([0; 8], &mut ping);
        let mut c = Client::new(1);
        let (_, r) = feed(&mut c, &ping);
        assert!(r.unwrap_err().contains("the server's first frame is PING, not SETTINGS"));
        assert_eq!(c.output()[3], 0x7, "GOAWAY sent");
        let mut c = Client::new(1);
        let mut big = Vec::new();
        frame::encode_settings(&[], &mut big);
        frame::encode_data(1, &[0; 20_000], false, &mut big);
        let split = HEAD_LEN + 5; // SETTINGS, and the DATA header in part: refused once whole
        assert_eq!(feed(&mut c, &big[..split]).1, Ok(()));
        let e = feed(&mut c, &big[split..]).1.unwrap_err();
        assert!(e.contains("FRAME_SIZE_ERROR"), "{e}");
        assert_eq!(Client::new(1).closed_reason(), "closed before the response head");
    }
}
