//! What receive-pack sends back after the commands: progress and hook output on side-band 2
//! (or only to the log when the client asked for no side-band, as C git then has nowhere to
//! put it), the report on band 1 (or bare), and the closing flush.

use std::io::Write;

use crate::protocol::sideband::{Channel, Mode, SidebandWriter};

/// The client's side of the conversation once the commands are read.
pub(crate) struct ClientOutput<W: Write> {
    band: SidebandWriter<W>,
    mode: Mode,
}

impl<W: Write> ClientOutput<W> {
    /// Output to `inner` in side-band `mode` (as the client requested).
    pub fn new(inner: W, mode: Mode) -> Self {
        ClientOutput {
            band: SidebandWriter::new(inner, mode),
            mode,
        }
    }

    /// Relays `bytes` (progress, hook output, fsck warnings) to the user's terminal. A failure
    /// to write is not an error here: the report write that follows notices a gone client.
    pub fn progress(&mut self, bytes: &[u8]) {
        if self.mode != Mode::None {
            let _ = self.band.send(Channel::Progress, bytes);
        } else {
            tracing::info!(output = %String::from_utf8_lossy(bytes), "hook/progress output (no sideband)");
        }
    }

    /// Sends the report-status pkt-lines `report`.
    pub fn report(&mut self, report: &[u8]) -> std::io::Result<()> {
        if self.mode == Mode::None {
            self.band.get_mut().write_all(report)
        } else {
            self.band.send(Channel::Data, report)
        }
    }

    /// Ends the response: the flush closing the side-band stream, if any.
    pub fn finish(self) -> std::io::Result<()> {
        let mut inner = self.band.into_inner();
        if self.mode != Mode::None {
            inner.write_all(b"0000")?;
        }
        inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_bare() {
        let mut buf = Vec::new();
        let mut bare = ClientOutput::new(&mut buf, Mode::None);
        bare.progress(b"lost\n");
        bare.report(b"0000").unwrap();
        bare.finish().unwrap();
        assert_eq!(buf, b"0000");
        let mut buf = Vec::new();
        let mut banded2 = ClientOutput::new(&mut buf, Mode::SideBand64k);
        banded2.progress(b"hi\n");
        banded2.report(b"0000").unwrap();
        banded2.finish().unwrap();
        assert_eq!(buf, b"0008\x02hi\n0009\x0100000000");
    }
}
