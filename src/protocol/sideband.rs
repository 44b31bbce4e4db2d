//! Side-band multiplexing: pack data on band 1, progress on band 2, a fatal message on band 3,
//! each packet prefixed by its band byte. `side-band` packets are at most 1000 bytes (995 of
//! payload), `side-band-64k` at most 65520 (65515 of payload), as git's `send_sideband` sends.
//! Without a sideband, data is written raw and progress is dropped.

use std::io::Write;

/// The three bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Channel {
    /// Pack data (or a nested report-status).
    Data = 1,
    /// Progress and hook output, shown as `remote: ...`.
    Progress = 2,
    /// A fatal error message.
    Error = 3,
}

/// Which sideband, if any, the client negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No sideband: data raw, progress dropped.
    None,
    /// `side-band`: 1000-byte packets.
    SideBand,
    /// `side-band-64k`: 65520-byte packets.
    SideBand64k,
}

impl Mode {
    /// Largest payload per packet (after length and band byte).
    pub const fn max_payload(self) -> usize {
        match self {
            Mode::None => usize::MAX,
            Mode::SideBand => 1000 - 5,
            Mode::SideBand64k => super::pktline::MAX_LINE_LEN - 5,
        }
    }
}

/// Writes bands onto `W`; as a [`Write`], it sends band 1, buffering into full packets.
pub struct SidebandWriter<W: Write> {
    inner: W,
    mode: Mode,
    buf: Vec<u8>,
}

impl<W: Write> SidebandWriter<W> {
    /// A writer in `mode` over `inner`.
    pub fn new(inner: W, mode: Mode) -> Self {
        SidebandWriter {
            inner,
            mode,
            buf: Vec::new(),
        }
    }

    /// Sends `data` on `channel`, split into as many packets as needed. Band 1 data buffered by
    /// the [`Write`] impl is sent first so bands stay in order.
    pub fn send(&mut self, channel: Channel, data: &[u8]) -> std::io::Result<()> {
        if channel == Channel::Data {
            self.flush_buffer()?;
        } else if !self.buf.is_empty() {
            self.flush_buffer()?;
        }
        self.send_now(channel, data)
    }

    fn send_now(&mut self, channel: Channel, data: &[u8]) -> std::io::Result<()> {
        if self.mode == Mode::None {
            if channel == Channel::Data {
                self.inner.write_all(data)?;
            }
            return Ok(());
        }
        for chunk in data.chunks(self.mode.max_payload()) {
            let h = crate::protocol::pktline::write::length_header(chunk.len() + 5);
            self.inner
                .write_all(&[h[0], h[1], h[2], h[3], channel as u8])?;
            self.inner.write_all(chunk)?;
        }
        Ok(())
    }

    fn flush_buffer(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.send_now(Channel::Data, &buf)?;
            self.buf = buf;
            self.buf.clear();
        }
        Ok(())
    }

    /// The side-band this writer speaks.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Sends an empty band-1 packet (`0005\1`), which the client's demultiplexer reads and
    /// drops: proof of life while the server is busy (C git's keepalive). Band 1 data buffered
    /// by the [`Write`] impl goes first, and `inner` is flushed so the packet leaves now.
    /// Nothing is sent without a side-band: the protocol has no room for it there.
    pub fn keepalive(&mut self) -> std::io::Result<()> {
        if self.mode == Mode::None {
            return Ok(());
        }
        self.flush_buffer()?;
        let h = crate::protocol::pktline::write::length_header(5);
        self.inner
            .write_all(&[h[0], h[1], h[2], h[3], Channel::Data as u8])?;
        self.inner.flush()
    }

    /// The underlying writer (flush this writer first).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps (buffered data is dropped; flush first).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for SidebandWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.mode == Mode::None {
            return self.inner.write(data);
        }
        let max = self.mode.max_payload();
        if self.buf.is_empty() && data.len() >= max {
            self.send_now(Channel::Data, &data[..max])?;
            return Ok(max);
        }
        let room = max - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == max {
            self.flush_buffer()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_buffer()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_orders_bands() {
        let mut w = SidebandWriter::new(Vec::new(), Mode::SideBand);
        w.write_all(&[7u8; 1200]).unwrap();
        w.send(Channel::Progress, b"hi").unwrap();
        w.flush().unwrap();
        let out = w.into_inner();
        // 995 data, then the 205 buffered data bytes before progress.
        assert_eq!(&out[..5], b"03e8\x01");
        assert_eq!(&out[1000..1005], b"00d2\x01");
        assert_eq!(&out[1210..], b"0007\x02hi");
    }

    #[test]
    fn no_sideband_is_raw_and_drops_progress() {
        let mut w = SidebandWriter::new(Vec::new(), Mode::None);
        w.write_all(b"PACK").unwrap();
        w.send(Channel::Progress, b"x").unwrap();
        assert_eq!(w.into_inner(), b"PACK");
    }

    #[test]
    fn keepalive_follows_buffered_data() {
        let mut w = SidebandWriter::new(Vec::new(), Mode::SideBand64k);
        w.write_all(b"PACK").unwrap();
        w.keepalive().unwrap();
        assert_eq!(w.into_inner(), b"0009\x01PACK0005\x01");
        let mut raw = SidebandWriter::new(Vec::new(), Mode::None);
        raw.keepalive().unwrap();
        assert!(raw.into_inner().is_empty());
    }

    #[test]
    fn sixty_four_k_packets() {
        let mut w = SidebandWriter::new(Vec::new(), Mode::SideBand64k);
        w.write_all(&vec![1u8; 70000]).unwrap();
        w.flush().unwrap();
        let out = w.into_inner();
        assert_eq!(&out[..5], b"fff0\x01");
        assert_eq!(out.len(), 65520 + 5 + (70000 - 65515));
    }
}
