//! What the peer sends: the preface, then frames, each checked against the connection's state.
//!
//! The [`frame`](crate::h2::frame) decoder has already enforced every rule that one frame alone
//! can break; here are the rules that need memory (RFC 9113 §5.1 stream states, §6.9 windows,
//! §6.10 header blocks, §8.1 message framing). A broken rule is a *connection error* (`GOAWAY`,
//! then close) or a *stream error* (`RST_STREAM` on that stream, the connection goes on), as
//! RFC 9113 says for each:
//!
//! | frame | on | answer |
//! |---|---|---|
//! | anything but `SETTINGS` first | — | connection `PROTOCOL_ERROR` |
//! | anything but `CONTINUATION` of the same stream inside a header block | — | connection `PROTOCOL_ERROR` |
//! | `HEADERS` | an even id | connection `PROTOCOL_ERROR` |
//! | `HEADERS` | a closed stream (one we saw close: `STREAM_CLOSED`), or an id below the highest | connection `PROTOCOL_ERROR` / `STREAM_CLOSED` |
//! | `HEADERS` | a half-closed (remote) stream | stream `STREAM_CLOSED` |
//! | `HEADERS` (trailers) | an open stream, without `END_STREAM` or with pseudo-fields | stream `PROTOCOL_ERROR` |
//! | `DATA`, `RST_STREAM`, `WINDOW_UPDATE` | an idle stream (above the highest id) | connection `PROTOCOL_ERROR` |
//! | `DATA` | a closed or half-closed (remote) stream | stream `STREAM_CLOSED` |
//! | `DATA` | past a window | connection or stream `FLOW_CONTROL_ERROR` |
//! | `DATA` | past the body's `content-length`, or ending short of it | stream `PROTOCOL_ERROR` |
//! | `CONTINUATION` | no header block under way | connection `PROTOCOL_ERROR` |
//! | `PUSH_PROMISE` | — | connection `PROTOCOL_ERROR` (clients cannot push) |
//! | `WINDOW_UPDATE` of 0 | the connection / a stream | connection / stream `PROTOCOL_ERROR` |
//! | `WINDOW_UPDATE`, `SETTINGS_INITIAL_WINDOW_SIZE` | a window past 2^31 - 1 | stream / connection `FLOW_CONTROL_ERROR` |
//! | `PRIORITY`, unknown types | anywhere | ignored |
//!
//! A header block is always decoded, even for a stream that is refused, so that the HPACK
//! context stays in step with the peer's.

use std::time::Instant;

use super::request::{Refused, check_trailers, request_of};
use super::stream::{Incoming, Stream, Tick, push_stepped, window};
use super::{Block, Connection, Event, MAX_BLOCK_FRAMES, Phase, Refusal};
use crate::h2::frame::{self, Frame, FrameError, Setting};
use crate::h2::hpack::{DecodeError, HeaderList};
use crate::h2::{DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_WINDOW_SIZE, PREFACE};
use crate::http::response::Response;
use crate::proto::stream_end::EndReason;

/// Received octets are given back with `WINDOW_UPDATE` once this many have been taken.
const UPDATE_AT: u32 = DEFAULT_INITIAL_WINDOW_SIZE / 2;

/// What a header block is for, decided before it is decoded.
enum BlockFor {
    /// A new stream's request.
    Request,
    /// Trailers on an open stream (valid only with `END_STREAM`).
    Trailers,
    /// Decoded for the HPACK context only; then the stream is answered with this error.
    Refuse(ErrorCode, Refusal),
    /// Decoded for the HPACK context only; nothing else (a stream above our `GOAWAY`).
    Ignore,
}

impl Connection {
    /// Processes the preface or one frame; `false` when more input is needed (or the
    /// connection ended).
    pub(super) fn process_one(&mut self, now: Instant) -> bool {
        let input = std::mem::take(&mut self.input);
        let more = self.process_in(&input, now);
        if matches!(self.phase, Phase::Open | Phase::Draining) {
            self.input = input;
        } else {
            self.consumed = 0; // a connection error drops the rest of the input
        }
        more
    }

    fn process_in(&mut self, input: &[u8], now: Instant) -> bool {
        let rest = &input[self.consumed..];
        if !self.preface {
            let n = rest.len().min(PREFACE.len());
            if rest[..n] != PREFACE[..n] {
                self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
                return false;
            }
            if n < PREFACE.len() {
                return false;
            }
            self.consumed += n;
            self.preface = true;
            return true;
        }
        match frame::decode(rest, DEFAULT_MAX_FRAME_SIZE) {
            Ok(None) => false,
            Ok(Some((frame, used))) => {
                self.consumed += used;
                self.on_frame(frame, now);
                true
            }
            Err(FrameError::Connection(v)) => {
                self.conn_error(v.code(), Refusal::of_code(v.code()), now);
                false
            }
            Err(FrameError::Stream { stream_id, frame_len, violation }) => {
                self.consumed += frame_len;
                if !self.peer_settings || self.block.is_some() {
                    self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
                    return false;
                }
                self.stream_error(stream_id, violation.code(), Refusal::Protocol, now);
                true
            }
        }
    }

    fn on_frame(&mut self, frame: Frame<'_>, now: Instant) {
        if !self.peer_settings && !matches!(frame, Frame::Settings(s) if !s.ack) {
            return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
        }
        if let Some(block) = &self.block {
            if !matches!(frame, Frame::Continuation(c) if c.stream_id == block.stream_id) {
                return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
            }
        }
        match frame {
            Frame::Data(d) => self.on_data(d, now),
            Frame::Headers(h) => {
                if h.stream_id % 2 == 0 {
                    return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
                }
                if h.end_headers {
                    self.on_header_block(h.stream_id, h.fragment, h.end_stream, now);
                } else if h.fragment.len() > self.config.max_header_block {
                    self.conn_error(ErrorCode::EnhanceYourCalm, Refusal::HeaderBlockTooLarge, now);
                } else {
                    self.block = Some(Block {
                        stream_id: h.stream_id,
                        fragments: h.fragment.to_vec(),
                        end_stream: h.end_stream,
                        frames: 1,
                        since: now,
                    });
                }
            }
            Frame::Continuation(c) => {
                let Some(block) = self.block.as_mut() else {
                    return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
                };
                block.frames += 1;
                if block.fragments.len() + c.fragment.len() > self.config.max_header_block
                    || block.frames > MAX_BLOCK_FRAMES
                {
                    return self.conn_error(ErrorCode::EnhanceYourCalm, Refusal::HeaderBlockTooLarge, now);
                }
                block.fragments.extend_from_slice(c.fragment);
                if c.end_headers {
                    let block = self.block.take().expect("checked above");
                    self.on_header_block(block.stream_id, &block.fragments, block.end_stream, now);
                }
            }
            Frame::Priority(_) | Frame::Unknown(_) => self.work_only(now),
            Frame::RstStream(r) => {
                if r.stream_id > self.highest {
                    return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
                }
                if let Some(s) = self.stream(r.stream_id) {
                    // How an HTTP/2 client leaves a stream (EventSource.close(), a closed tab).
                    EndReason::ClientLeft.note(&mut s.end);
                    self.remove(r.stream_id);
                    self.settle(now);
                    if !self.resets.take(now) {
                        self.conn_error(ErrorCode::EnhanceYourCalm, Refusal::RapidReset, now);
                    }
                } else {
                    self.work_only(now);
                }
            }
            Frame::Settings(s) if s.ack => {}
            Frame::Settings(s) => {
                self.peer_settings = true;
                for setting in s.iter() {
                    match setting {
                        Setting::HeaderTableSize(v) => self.encoder.set_max_table_size(v as usize),
                        Setting::InitialWindowSize(v) => {
                            let delta = i64::from(v) - i64::from(self.peer_initial_window);
                            self.peer_initial_window = v;
                            let max = i64::from(MAX_WINDOW_SIZE);
                            if self.streams.iter().any(|st| i64::from(st.send_window) + delta > max) {
                                return self.conn_error(
                                    ErrorCode::FlowControlError,
                                    Refusal::FlowControl,
                                    now,
                                );
                            }
                            for st in &mut self.streams {
                                st.send_window = window(i64::from(st.send_window) + delta);
                            }
                        }
                        Setting::MaxFrameSize(v) => self.peer_max_frame = v,
                        _ => {}
                    }
                }
                self.note_output(now);
                frame::encode_settings_ack(&mut self.out.control);
                self.work_only(now);
            }
            Frame::PushPromise(_) => self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now),
            Frame::Ping(p) if p.ack => {}
            Frame::Ping(p) => {
                self.note_output(now);
                frame::encode_ping_ack(p.data, &mut self.out.control);
                self.work_only(now);
            }
            // The client is leaving: answer in kind, finish what is under way, close.
            Frame::GoAway(_) => self.shutdown(now),
            Frame::WindowUpdate(w) => self.on_window_update(w.stream_id, w.increment, now),
        }
    }

    fn on_data(&mut self, d: frame::Data<'_>, now: Instant) {
        let flow = d.flow_len();
        if i64::from(flow) > self.recv_window {
            return self.conn_error(ErrorCode::FlowControlError, Refusal::FlowControl, now);
        }
        // Every DATA frame counts against the connection's window, whatever its stream.
        self.recv_window -= i64::from(flow);
        self.recv_unacked += flow;
        if self.recv_unacked >= UPDATE_AT {
            self.note_output(now);
            frame::encode_window_update(0, self.recv_unacked, &mut self.out.control);
            self.recv_window += i64::from(self.recv_unacked);
            self.recv_unacked = 0;
        }
        let id = d.stream_id;
        let max_body = self.config.limits.max_body_bytes;
        // What every stream's unfinished body holds (at most max_concurrent_streams of them:
        // counted when body data comes, which SSE streams never receive).
        let held: usize = if d.data.is_empty() {
            0
        } else {
            self.streams.iter().filter_map(|s| s.incoming.as_ref()).map(|i| i.request.body.len()).sum()
        };
        let max_held = self.config.max_bodies_held;
        let Some(s) = self.stream(id) else {
            return if id > self.highest {
                self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now)
            } else {
                self.stream_error(id, ErrorCode::StreamClosed, Refusal::Protocol, now)
            };
        };
        if s.remote_closed {
            return self.stream_error(id, ErrorCode::StreamClosed, Refusal::Protocol, now);
        }
        if i64::from(flow) > i64::from(s.recv_window) {
            return self.stream_error(id, ErrorCode::FlowControlError, Refusal::FlowControl, now);
        }
        s.recv_window = window(i64::from(s.recv_window) - i64::from(flow));
        s.recv_unacked += flow;
        let mut too_large = false;
        let mut malformed = false;
        let mut too_many_held = false;
        if let Some(incoming) = s.incoming.as_mut() {
            let body = &mut incoming.request.body;
            let len = body.len() + d.data.len();
            if incoming.content_length.is_some_and(|n| len > n) {
                malformed = true;
            } else if len > max_body {
                too_large = true;
            } else if held + d.data.len() > max_held {
                too_many_held = true;
            } else {
                body.extend_from_slice(d.data);
            }
        }
        if too_many_held {
            return self.stream_error(id, ErrorCode::RefusedStream, Refusal::BodiesHeld, now);
        }
        if d.end_stream {
            s.remote_closed = true;
        } else if s.recv_unacked >= UPDATE_AT && !too_large {
            let inc = std::mem::take(&mut s.recv_unacked);
            s.recv_window = window(i64::from(s.recv_window) + i64::from(inc));
            self.note_output(now);
            frame::encode_window_update(id, inc, &mut self.out.control);
        }
        if malformed {
            return self.stream_error(id, ErrorCode::ProtocolError, Refusal::Malformed, now);
        }
        if too_large {
            if let Some(s) = self.stream(id) {
                s.incoming = None;
            }
            self.respond(id, &Response::error(413, "request body too large"), false, now);
            return;
        }
        if d.data.is_empty() && !d.end_stream {
            self.work_only(now);
        }
        if d.end_stream {
            self.request_complete(id, now);
        }
    }

    fn on_window_update(&mut self, id: u32, increment: u32, now: Instant) {
        self.work_only(now);
        if id == 0 {
            if increment == 0 {
                return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
            }
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(MAX_WINDOW_SIZE) {
                self.conn_error(ErrorCode::FlowControlError, Refusal::FlowControl, now);
            }
            return;
        }
        if id > self.highest {
            return self.conn_error(ErrorCode::ProtocolError, Refusal::Protocol, now);
        }
        let Some(s) = self.stream(id) else { return }; // closed: frames in flight are fine
        if increment == 0 {
            return self.stream_error(id, ErrorCode::ProtocolError, Refusal::Protocol, now);
        }
        let sum = i64::from(s.send_window) + i64::from(increment);
        if sum > i64::from(MAX_WINDOW_SIZE) {
            return self.stream_error(id, ErrorCode::FlowControlError, Refusal::FlowControl, now);
        }
        s.send_window = window(sum);
    }

    /// A whole header block on stream `id`.
    fn on_header_block(&mut self, id: u32, block: &[u8], end_stream: bool, now: Instant) {
        let existing = self.stream(id).map(|s| s.remote_closed);
        let purpose = match existing {
            Some(true) => BlockFor::Refuse(ErrorCode::StreamClosed, Refusal::Protocol),
            Some(false) if !end_stream => BlockFor::Refuse(ErrorCode::ProtocolError, Refusal::Malformed),
            Some(false) => BlockFor::Trailers,
            None if id <= self.highest => {
                let code = if self.recently_closed.contains(&id) {
                    ErrorCode::StreamClosed
                } else {
                    ErrorCode::ProtocolError
                };
                return self.conn_error(code, Refusal::Protocol, now);
            }
            None => {
                self.highest = id;
                if self.goaway.is_some() {
                    BlockFor::Ignore
                } else if self.streams.len() >= self.config.max_concurrent_streams as usize {
                    BlockFor::Refuse(ErrorCode::RefusedStream, Refusal::TooManyStreams)
                } else {
                    BlockFor::Request
                }
            }
        };
        let fields = match self.decoder.decode_to_vec(block) {
            Ok(fields) => Ok(fields),
            Err(e) => match e.connection_error() {
                Some(code) => return self.conn_error(code, Refusal::Compression, now),
                None => Err(e),
            },
        };
        match purpose {
            BlockFor::Ignore => {}
            BlockFor::Refuse(code, why) => {
                self.stream_error(id, code, why, now);
                if why == Refusal::TooManyStreams && !self.resets.take(now) {
                    self.conn_error(ErrorCode::EnhanceYourCalm, Refusal::RapidReset, now);
                }
            }
            BlockFor::Trailers => match fields.as_deref().map(check_trailers) {
                Ok(Ok(())) => {
                    if let Some(s) = self.stream(id) {
                        s.remote_closed = true;
                    }
                    self.request_complete(id, now);
                }
                Ok(Err(_)) => self.stream_error(id, ErrorCode::ProtocolError, Refusal::Malformed, now),
                Err(_) => self.stream_error(id, ErrorCode::ProtocolError, Refusal::HeaderListTooLarge, now),
            },
            BlockFor::Request => self.open_stream(id, fields, end_stream, now),
        }
    }

    /// A new stream with its request's header list (or why it could not be decoded).
    fn open_stream(
        &mut self,
        id: u32,
        fields: Result<HeaderList, DecodeError>,
        end_stream: bool,
        now: Instant,
    ) {
        let head = match fields {
            Err(_) => Err(Refused::Answer(Response::error(431, "request header fields too large"))),
            Ok(fields) => request_of(fields),
        };
        let answer = match head {
            Err(Refused::Malformed(_)) => {
                return self.stream_error(id, ErrorCode::ProtocolError, Refusal::Malformed, now);
            }
            Ok(head) if end_stream && head.content_length.is_some_and(|n| n > 0) => {
                return self.stream_error(id, ErrorCode::ProtocolError, Refusal::Malformed, now);
            }
            Ok(head) if head.content_length.is_some_and(|n| n > self.config.limits.max_body_bytes) => {
                Some(Response::error(413, "request body too large"))
            }
            Ok(head) => {
                let incoming = Incoming { request: head.request, content_length: head.content_length };
                self.new_stream(id, now).incoming = Some(Box::new(incoming));
                None
            }
            Err(Refused::Answer(response)) => Some(response),
        };
        if let Some(response) = answer {
            if response.status == 431 {
                self.events.push_back(Event::Refused(Refusal::HeaderListTooLarge));
            }
            self.new_stream(id, now);
            if end_stream {
                self.stream(id).expect("just made").remote_closed = true;
            }
            self.respond(id, &response, false, now);
            return;
        }
        if end_stream {
            self.stream(id).expect("just made").remote_closed = true;
            self.request_complete(id, now);
        }
    }

    fn new_stream(&mut self, id: u32, now: Instant) -> &mut Stream {
        let stream = Stream::new(
            id,
            i64::from(self.peer_initial_window),
            i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
            self.config.settings.max_queue_bytes,
            self.pool.clone(),
            Tick::of(now, self.accepted),
        );
        push_stepped(&mut self.streams, stream);
        self.settle(now);
        self.streams.last_mut().expect("just pushed")
    }

    /// The client's side of stream `id` ended: its request goes out, if it is whole.
    fn request_complete(&mut self, id: u32, now: Instant) {
        let Some(s) = self.stream(id) else { return };
        let Some(incoming) = s.incoming.take() else {
            // Answered already (a body too large): the stream closes once that answer is sent.
            if !s.has_output() && s.answered() {
                self.remove(id);
                self.settle(now);
            }
            return;
        };
        if incoming.content_length.is_some_and(|n| n != incoming.request.body.len()) {
            return self.stream_error(id, ErrorCode::ProtocolError, Refusal::Malformed, now);
        }
        s.delivered = true;
        self.events.push_back(Event::Request { stream: id, request: incoming.request });
    }

    /// A frame that makes us work for nothing: one token of the control budget.
    fn work_only(&mut self, now: Instant) {
        if !self.control.take(now) {
            self.conn_error(ErrorCode::EnhanceYourCalm, Refusal::ControlFlood, now);
        }
    }

    /// A connection error: counted, `GOAWAY`, closing.
    pub(super) fn conn_error(&mut self, code: ErrorCode, why: Refusal, now: Instant) {
        if matches!(self.phase, Phase::Open | Phase::Draining) {
            self.events.push_back(Event::Refused(why));
            self.go_away(code, b"", now);
        }
    }

    /// A stream error: counted, `RST_STREAM` (whether or not we kept the stream), and the
    /// stream is forgotten.
    fn stream_error(&mut self, id: u32, code: ErrorCode, why: Refusal, now: Instant) {
        self.events.push_back(Event::Refused(why));
        if let Some(s) = self.stream(id) {
            EndReason::ProtocolError.note(&mut s.end);
            self.reset(id, code, now);
        } else {
            self.note_output(now);
            frame::encode_rst_stream(id, code, &mut self.out.control);
            // An idle stream we reset (a PRIORITY that depends on itself) is closed from now
            // on, as if opened: a HEADERS on it later is a closed stream's, not a new request.
            if id > self.highest && id % 2 == 1 {
                self.highest = id;
            }
        }
    }
}
