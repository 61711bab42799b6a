//! An incremental HTTP/1.1 chunked-body decoder (RFC 9112 §7.1) for `ssehub bench`.
//!
//! `socket ─► Dechunker ─► payload slices ─► ssehub::Decoder`. A state machine over bytes: it
//! walks the framing (`<hex size>[;ext]CRLF <data> CRLF ... 0 CRLF [trailers] CRLF`) one byte at
//! a time and hands out each run of payload as a slice of the input, so it copies and allocates
//! nothing, whatever the chunk sizes and wherever the reads split the framing.
//!
//! Lenient where real servers are: a bare LF ends a line as CRLF does, and whitespace may follow
//! the size. Strict where a mistake would corrupt the payload: the size needs at least one hex
//! digit and must fit in a `u64`, and the data must be followed by a line ending.

use std::fmt;

/// The longest chunk-size line (size, extensions and whitespace) accepted.
const MAX_HEADER_LINE: u32 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In the hex digits of a chunk size.
    Size,
    /// Past the size: whitespace and extensions up to the line ending.
    Ext,
    /// After the CR ending a size line.
    SizeLf,
    /// Inside chunk data: this many bytes to go.
    Data(u64),
    /// After chunk data: its CRLF.
    DataCr,
    DataLf,
    /// After the last chunk: at the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// After the CR of the final empty line.
    EndLf,
    /// The final empty line has been read: the body is complete.
    Done,
}

/// What was wrong with the chunked framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk-size line with no hex digit, or a bad byte among the digits.
    BadSize,
    /// A chunk size that does not fit in 64 bits.
    SizeOverflow,
    /// A chunk-size line longer than [`MAX_HEADER_LINE`].
    HeaderTooLong,
    /// Chunk data not followed by CRLF, or a CR not followed by LF.
    BadLineEnding,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::BadSize => "bad chunk size",
            ChunkError::SizeOverflow => "chunk size overflows",
            ChunkError::HeaderTooLong => "chunk header line too long",
            ChunkError::BadLineEnding => "bad line ending in chunked framing",
        })
    }
}

/// The chunked-body decoder; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Dechunker {
    state: State,
    size: u64,
    digits: u32,
    line_len: u32,
}

impl Default for Dechunker {
    fn default() -> Dechunker {
        Dechunker::new()
    }
}

impl Dechunker {
    pub fn new() -> Dechunker {
        Dechunker { state: State::Size, size: 0, digits: 0, line_len: 0 }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing from the front of `input` up to the next run of payload, and returns
    /// that run (never empty). `None` when `input` is used up or the body is complete
    /// ([`is_done`](Self::is_done)); bytes after the end of the body are left in `input`.
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, ChunkError> {
        while let Some((&b, rest)) = input.split_first() {
            if let State::Data(left) = self.state {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let (payload, rest) = input.split_at(take);
                *input = rest;
                let left = left - take as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data(left) };
                return Ok(Some(payload));
            }
            if self.state == State::Done {
                return Ok(None);
            }
            *input = rest;
            self.step(b)?;
        }
        Ok(None)
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        match self.state {
            State::Size | State::Ext => {
                self.line_len += 1;
                if self.line_len > MAX_HEADER_LINE {
                    return Err(ChunkError::HeaderTooLong);
                }
                match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => self.size_line_done()?,
                    _ if self.state == State::Ext => {}
                    b';' | b' ' | b'\t' => self.state = State::Ext,
                    _ => {
                        let digit = (b as char).to_digit(16).ok_or(ChunkError::BadSize)?;
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(digit)))
                            .ok_or(ChunkError::SizeOverflow)?;
                        self.digits += 1;
                    }
                }
            }
            State::SizeLf => match b {
                b'\n' => self.size_line_done()?,
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::DataCr => match b {
                b'\r' => self.state = State::DataLf,
                b'\n' => self.state = State::Size,
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::DataLf => match b {
                b'\n' => self.state = State::Size,
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::TrailerStart => match b {
                b'\r' => self.state = State::EndLf,
                b'\n' => self.state = State::Done,
                _ => self.state = State::Trailer,
            },
            State::Trailer => {
                if b == b'\n' {
                    self.state = State::TrailerStart;
                }
            }
            State::EndLf => match b {
                b'\n' => self.state = State::Done,
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::Data(_) | State::Done => unreachable!("handled by next"),
        }
        Ok(())
    }

    fn size_line_done(&mut self) -> Result<(), ChunkError> {
        if self.digits == 0 {
            return Err(ChunkError::BadSize);
        }
        self.state = if self.size == 0 { State::TrailerStart } else { State::Data(self.size) };
        self.size = 0;
        self.digits = 0;
        self.line_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `parts` in order; returns the payload, whether the body completed, and the bytes
    /// left over after its end.
    fn run(parts: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkError> {
        let mut d = Dechunker::new();
        let mut payload = Vec::new();
        let mut left = Vec::new();
        for part in parts {
            let mut input = *part;
            while let Some(p) = d.next(&mut input)? {
                assert!(!p.is_empty());
                payload.extend_from_slice(p);
            }
            if d.is_done() {
                left.extend_from_slice(input);
            } else {
                assert!(input.is_empty(), "input left while not done");
            }
        }
        Ok((payload, d.is_done(), left))
    }

    const BODY: &[u8] = b"1c\r\n: ok\n\ndata: 1700000000000 x\n\r\n\
        5;name=value\r\nhello\r\n\
        A \r\n0123456789\r\n\
        1\nZ\n\
        0\r\nExpires: never\r\nX: y\r\n\r\nNEXT";

    fn want() -> Vec<u8> {
        b": ok\n\ndata: 1700000000000 x\nhello0123456789Z".to_vec()
    }

    #[test]
    fn whole_body_in_one_read() {
        assert_eq!(run(&[BODY]).unwrap(), (want(), true, b"NEXT".to_vec()));
    }

    #[test]
    fn split_at_every_point() {
        for i in 0..=BODY.len() {
            let got = run(&[&BODY[..i], &BODY[i..]]).unwrap();
            assert_eq!(got, (want(), true, b"NEXT".to_vec()), "split at {i}");
        }
    }

    #[test]
    fn split_at_every_pair_of_points() {
        for i in 0..=BODY.len() {
            for j in i..=BODY.len() {
                let got = run(&[&BODY[..i], &BODY[i..j], &BODY[j..]]).unwrap();
                assert_eq!(got, (want(), true, b"NEXT".to_vec()), "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let parts: Vec<&[u8]> = BODY.chunks(1).collect();
        assert_eq!(run(&parts).unwrap(), (want(), true, b"NEXT".to_vec()));
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        let cut = BODY.len() - b"\r\nNEXT".len();
        assert_eq!(run(&[&BODY[..cut]]).unwrap(), (want(), false, Vec::new()));
        assert_eq!(run(&[b"5\r\nhel"]).unwrap(), (b"hel".to_vec(), false, Vec::new()));
        assert_eq!(run(&[b"0\r\n\r\n"]).unwrap(), (Vec::new(), true, Vec::new()));
    }

    #[test]
    fn large_sizes() {
        let (p, done, _) = run(&[b"FFFFFFFFFFFFFFFF\r\nabc"]).unwrap();
        assert_eq!((p, done), (b"abc".to_vec(), false));
        assert_eq!(run(&[b"10000000000000000\r\n"]), Err(ChunkError::SizeOverflow));
    }

    #[test]
    fn framing_errors() {
        assert_eq!(run(&[b"\r\n"]), Err(ChunkError::BadSize));
        assert_eq!(run(&[b";ext\r\n"]), Err(ChunkError::BadSize));
        assert_eq!(run(&[b"g\r\n"]), Err(ChunkError::BadSize));
        assert_eq!(run(&[b"1\rx"]), Err(ChunkError::BadLineEnding));
        assert_eq!(run(&[b"1\r\naXY"]), Err(ChunkError::BadLineEnding));
        assert_eq!(run(&[b"1\r\na\rY"]), Err(ChunkError::BadLineEnding));
        assert_eq!(run(&[b"0\r\n\rX"]), Err(ChunkError::BadLineEnding));
        let long = [&b"1;"[..], &[b'x'; 5000][..]].concat();
        assert_eq!(run(&[&long]), Err(ChunkError::HeaderTooLong));
    }
}
