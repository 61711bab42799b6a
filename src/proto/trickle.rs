//! A writer for tests of the sans-IO connections: it takes at most `cap` bytes a call (across
//! the slices of a vectored write), then would block once, as a socket with a small send buffer
//! does.

use std::io::{self, IoSlice, Write};

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Trickle {
    /// Everything written so far.
    pub(crate) out: Vec<u8>,
    /// The most one call takes.
    pub(crate) cap: usize,
    /// The next call would block.
    pub(crate) blocked: bool,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if std::mem::take(&mut self.blocked) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.blocked = true;
        let before = self.out.len();
        self.out.extend(bufs.iter().flat_map(|b| b.iter().copied()).take(self.cap));
        Ok(self.out.len() - before)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
