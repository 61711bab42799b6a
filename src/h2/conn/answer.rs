//! The driver's answers on a stream, and how queued bodies become `DATA` frames.
//!
//! An answer begins with a `HEADERS` frame, encoded with the connection's HPACK encoder into
//! the control output (so header blocks leave in the order they were encoded). A response's
//! body, or an event stream's events, wait in the stream's queue; each round of output
//! ([`Connection::commit_round`]) cuts `DATA` frames from the queues in turn (round-robin, so
//! one busy stream cannot starve the others), as far as the windows and the peer's frame size
//! allow. `END_STREAM` goes with the last bytes of a finished answer.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::stream::{Local, Tick, window};
use super::{Connection, Event, Refusal};
use crate::h2::ErrorCode;
use crate::h2::frame;
use crate::h2::frame::HEAD_LEN;
use crate::h2::hpack;
use crate::http::response::{Response, STREAM_HEADERS, is_token};
use crate::proto::Frame;
use crate::proto::queue::Overflow;
use crate::proto::stream_end::EndReason;

/// The most octets of `DATA` one round commits (then the round is written before the next).
const ROUND_BYTES: usize = 64 * 1024;

/// Response fields HTTP/2 forbids (RFC 9113 §8.2.2); an application's header of that name is
/// left out, as a field that could split an HTTP/1.1 response is.
const CONNECTION_SPECIFIC: [&str; 5] =
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

impl Connection {
    /// Answers stream `stream` with `response` (its head only when `head_only`: a `HEAD`
    /// request). `false` if the stream is gone or already answered.
    pub fn respond(&mut self, stream: u32, response: &Response, head_only: bool, now: Instant) -> bool {
        let epoch = self.accepted;
        if self.stream(stream).is_none_or(|s| s.answered()) {
            return false;
        }
        let bodiless = matches!(response.status, 100..=199 | 204 | 304);
        let body: &[u8] = if bodiless || head_only { &[] } else { &response.body };
        let (mut status, mut length) = ([0; 20], [0; 20]);
        let mut fields: Fields<'_> = Vec::with_capacity(response.headers.len() + 2);
        fields.push((Cow::Borrowed(b":status"), Cow::Borrowed(decimal(response.status.into(), &mut status))));
        push_fields(&mut fields, response.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        if !bodiless {
            let length = decimal(response.body.len() as u64, &mut length);
            fields.push((Cow::Borrowed(b"content-length"), Cow::Borrowed(length)));
        }
        self.headers(stream, &fields, body.is_empty(), now);
        let s = self.stream(stream).expect("checked above");
        if body.is_empty() {
            self.ended(stream, now);
        } else {
            s.out.push_unbounded(Frame::raw(body.to_vec()));
            s.local = Local::Ending;
            s.last_queued = Tick::of(now, epoch);
        }
        true
    }

    /// Opens an event stream on `stream`: `200`, `text/event-stream`, the HTTP/1.1 stream's
    /// other fields and `extra` (CORS, configured headers), then `first` (the `:ok` comment, a
    /// replay). `false` if the stream is gone or already answered.
    pub fn start_stream(
        &mut self,
        stream: u32,
        extra: &[(String, String)],
        first: &[Frame],
        now: Instant,
    ) -> bool {
        let epoch = self.accepted;
        if self.stream(stream).is_none_or(|s| s.answered()) {
            return false;
        }
        let mut fields: Fields<'_> = vec![(Cow::Borrowed(b":status"), Cow::Borrowed(b"200"))];
        push_fields(&mut fields, STREAM_HEADERS.iter().copied());
        push_fields(&mut fields, extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.headers(stream, &fields, false, now);
        let s = self.stream(stream).expect("checked above");
        s.local = Local::Streaming;
        s.last_queued = Tick::of(now, epoch);
        for f in first {
            s.out.push_unbounded(f.clone());
        }
        true
    }

    /// Queues an event on stream `stream`. Past the queue bound the stream is reset (`CANCEL`)
    /// and `Err` says so; a stream that is gone or finishing takes nothing, quietly.
    pub fn push(&mut self, stream: u32, frame: Frame, now: Instant) -> Result<(), Overflow> {
        let epoch = self.accepted;
        let Some(s) = self.stream(stream) else { return Ok(()) };
        if s.local != Local::Streaming {
            return Ok(());
        }
        match s.out.push(frame) {
            Ok(()) => {
                s.last_queued = Tick::of(now, epoch);
                Ok(())
            }
            Err(overflow) => {
                EndReason::SlowClient.note(&mut s.end);
                self.events.push_back(Event::Refused(Refusal::Overflow));
                self.reset(stream, ErrorCode::Cancel, now);
                Err(overflow)
            }
        }
    }

    /// Whether [`Connection::push`] would pass the bound with `frame` now.
    pub fn would_overflow(&self, stream: u32, frame: &Frame) -> bool {
        self.streams.iter().find(|s| s.id == stream).is_some_and(|s| s.out.would_overflow(frame))
    }

    /// Queues a replay batch (sized by [`Connection::replay_room`]) whatever the bound.
    pub fn push_replay(&mut self, stream: u32, frames: Vec<Frame>, now: Instant) {
        let epoch = self.accepted;
        let Some(s) = self.stream(stream) else { return };
        if s.local != Local::Streaming {
            return;
        }
        for f in frames {
            s.out.push_unbounded(f);
        }
        s.last_queued = Tick::of(now, epoch);
    }

    /// Room in stream `stream`'s queue, once it is empty (a replay batch waits for that): its
    /// bound or what its pool has left, whichever is less.
    pub fn replay_room(&self, stream: u32) -> usize {
        match self.streams.iter().find(|s| s.id == stream) {
            Some(s) if s.out.is_empty() && s.local == Local::Streaming => {
                s.out.limit().min(s.out.pool().room())
            }
            _ => 0,
        }
    }

    /// Ends the event stream on `stream` once its queue is sent.
    pub fn finish_stream(&mut self, stream: u32, _now: Instant) {
        if let Some(s) = self.stream(stream) {
            if s.local == Local::Streaming {
                // Unless a cause was noted before, the server chose to end it.
                EndReason::Closed.note(&mut s.end);
                s.local = Local::Ending;
            }
        }
    }

    /// Ends the event stream on `stream` at `at` (its authorization expires then), after what
    /// is queued; a later call moves the end.
    pub fn end_stream_at(&mut self, stream: u32, at: Instant) {
        let at = Tick::of(at, self.accepted);
        if let Some(s) = self.stream(stream) {
            if s.local == Local::Streaming {
                s.ends_at = Some(at);
            }
        }
    }

    /// Stream `stream`'s answer comes later; past `wait`, `503`.
    pub fn defer(&mut self, stream: u32, wait: Duration, now: Instant) {
        if let Some(s) = self.stream(stream) {
            if s.local == Local::Unanswered {
                s.local = Local::Waiting(now + wait);
            }
        }
    }

    /// Whether stream `stream` waits for a deferred answer.
    pub fn is_waiting(&self, stream: u32) -> bool {
        self.streams.iter().any(|s| s.id == stream && matches!(s.local, Local::Waiting(_)))
    }

    /// Resets stream `stream` (the driver gives up on it: `INTERNAL_ERROR`, say).
    pub fn reset_stream(&mut self, stream: u32, code: ErrorCode, now: Instant) {
        if let Some(s) = self.stream(stream) {
            EndReason::Error.note(&mut s.end);
            self.reset(stream, code, now);
        }
    }

    /// Encodes a `HEADERS` frame (and `CONTINUATION`s) for `fields` into the control output.
    fn headers(&mut self, stream: u32, fields: &Fields<'_>, end_stream: bool, now: Instant) {
        self.note_output(now);
        let mut block = std::mem::take(&mut self.out_block);
        block.clear();
        self.encoder.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut block);
        let before = self.out.control.len();
        frame::encode_headers(stream, &block, end_stream, self.peer_max_frame, &mut self.out.control);
        // Kept for the next answer, unless one (large) answer grew it.
        if block.capacity() <= BLOCK_KEPT {
            self.out_block = block;
        }
        let framed = (self.out.control.len() - before) as u64;
        if let Some(s) = self.stream(stream) {
            s.framing += framed;
        }
    }

    /// Our side of stream `id` is over (`END_STREAM` queued): it closes, or, while the client
    /// still sends its body, is reset with `NO_ERROR` (RFC 9113 §8.1: the answer is whole).
    fn ended(&mut self, id: u32, now: Instant) {
        match self.stream(id) {
            Some(s) if s.remote_closed => {
                self.remove(id);
                self.settle(now);
            }
            Some(_) => self.reset(id, ErrorCode::NoError, now),
            None => {}
        }
    }

    /// Commits a round of output (see the [module docs](self)): the control bytes, then `DATA`
    /// from the streams in turn.
    pub(super) fn commit_round(&mut self, now: Instant) {
        self.out.commit_control();
        let n = self.streams.len();
        if n == 0 {
            return;
        }
        let mut budget = ROUND_BYTES;
        let mut ended = Vec::new();
        let start = self.rotate % n;
        self.rotate = start + 1;
        for k in 0..n {
            if budget == 0 {
                break;
            }
            let i = (start + k) % n;
            let max_frame = self.peer_max_frame as usize;
            let s = &mut self.streams[i];
            if !s.has_output() {
                continue;
            }
            let end = s.local == Local::Ending;
            let mut frames = 0;
            loop {
                let open = i64::from(s.send_window).min(self.send_window).max(0) as usize;
                let room = open.min(max_frame).min(budget);
                if room == 0 && !(s.out.is_empty() && end) {
                    break;
                }
                let (taken, end_stream) = self.out.commit_data(s.id, &mut s.out, room, end);
                s.send_window = window(i64::from(s.send_window) - taken as i64);
                self.send_window -= taken as i64;
                budget -= taken;
                frames += 1;
                if end_stream {
                    ended.push(s.id);
                    break;
                }
                if s.out.is_empty() {
                    break;
                }
            }
            if frames > 0 {
                // The peer may answer each DATA frame with a WINDOW_UPDATE.
                self.control.credit(frames);
                s.framing += u64::from(frames) * HEAD_LEN as u64;
            }
            s.blocked_since = match (s.out.is_empty(), frames > 0) {
                (true, _) => None,
                (false, true) => None,
                (false, false) => s.blocked_since.or(Some(Tick::of(now, self.accepted))),
            };
        }
        for id in ended {
            self.ended(id, now);
        }
        // RST_STREAM(NO_ERROR) for answers that ended before their request did.
        self.out.commit_control();
    }
}

/// A response's header fields as the encoder takes them: borrowed from the response (or from
/// the static table, for a name that differs from one of its names only in case) wherever
/// that can be, so that answering a publish does not copy every name and value.
type Fields<'a> = Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>;

/// The most capacity the header block buffer keeps between answers.
const BLOCK_KEPT: usize = 1024;

/// Appends fields with valid names (lowercased) and values, leaving out connection-specific
/// ones and any that could not be sent over HTTP/1.1 either.
fn push_fields<'a>(fields: &mut Fields<'a>, from: impl Iterator<Item = (&'a str, &'a str)>) {
    for (name, value) in from {
        if !is_token(name) || value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            continue;
        }
        let lower: Cow<'a, [u8]> = if !name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Borrowed(name.as_bytes())
        } else if let Some(known) = hpack::static_name(name.as_bytes()) {
            Cow::Borrowed(known)
        } else {
            Cow::Owned(name.to_ascii_lowercase().into_bytes())
        };
        if !CONNECTION_SPECIFIC.iter().any(|c| c.as_bytes() == &lower[..]) {
            fields.push((lower, Cow::Borrowed(value.trim_matches([' ', '\t']).as_bytes())));
        }
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_writes_every_width() {
        let mut buf = [0; 20];
        for n in [0, 7, 10, 201, 65_535, 1 << 40, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn field_names_are_lowercased_and_connection_fields_left_out() {
        let from = [
            ("Content-Type", "application/json"),
            ("X-Accel-Buffering", " no\t"),
            ("Connection", "close"),
            ("Keep-Alive", "5"),
            ("bad name", "x"),
            ("x-split", "a\r\nb"),
            ("idempotent-replayed", "true"),
        ];
        let mut fields = Vec::new();
        push_fields(&mut fields, from.into_iter());
        let got: Vec<(&[u8], &[u8])> = fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let want: [(&[u8], &[u8]); 3] = [
            (b"content-type", b"application/json"),
            (b"x-accel-buffering", b"no"),
            (b"idempotent-replayed", b"true"),
        ];
        assert_eq!(got, want);
        assert!(matches!(fields[0].0, Cow::Borrowed(_)), "a static table name is borrowed");
    }
}
