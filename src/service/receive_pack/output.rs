//! What receive-pack sends back after the commands: progress and hook output on side-band 2
//! (or only to the log when the client asked for no side-band, as C git then has nowhere to
//! put it), the report on band 1 (or bare), and the closing flush. Everything goes through the
//! request's [`Keepalive`], which fills the quiet periods once the pack is read.

use std::io::Write;

use crate::protocol::keepalive::Keepalive;
use crate::protocol::sideband::{Channel, Mode, SidebandWriter};

/// The client's side of the conversation once the commands are read.
pub(crate) struct ClientOutput<'k, W: Write> {
    band: &'k Keepalive<W>,
    mode: Mode,
}

impl<'k, W: Write> ClientOutput<'k, W> {
    /// Output through `band` in side-band `mode` (as the client requested).
    pub fn new(band: &'k Keepalive<W>, mode: Mode) -> Self {
        ClientOutput { band, mode }
    }

    /// The keepalive, to [`arm`](Keepalive::arm) once the pack is read.
    pub fn keepalive(&self) -> &'k Keepalive<W> {
        self.band
    }

    /// Relays `bytes` (progress, hook output, fsck warnings) to the user's terminal. A failure
    /// to write is not an error here: the report write that follows notices a gone client.
    pub fn progress(&mut self, bytes: &[u8]) {
        if self.mode != Mode::None {
            let _ = self.band.with(|b| b.send(Channel::Progress, bytes));
        } else {
            tracing::info!(output = %String::from_utf8_lossy(bytes), "hook/progress output (no sideband)");
        }
    }

    /// Sends the report-status pkt-lines `report`.
    pub fn report(&mut self, report: &[u8]) -> std::io::Result<()> {
        if self.mode == Mode::None {
            self.band.with(|b| b.get_mut().write_all(report))
        } else {
            self.band.with(|b| b.send(Channel::Data, report))
        }
    }
}

/// Ends the response on `band` (the keepalive stopped): the flush closing the side-band
/// stream, if any.
pub(crate) fn finish<W: Write>(band: SidebandWriter<W>) -> std::io::Result<()> {
    let mode = band.mode();
    let mut inner = band.into_inner();
    if mode != Mode::None {
        inner.write_all(b"0000")?;
    }
    inner.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(mode: Mode, f: impl FnOnce(&mut ClientOutput<'_, &mut Vec<u8>>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let band = SidebandWriter::new(&mut buf, mode);
        let ((), band) = Keepalive::run(band, None, false, |k| f(&mut ClientOutput::new(k, mode)));
        finish(band).unwrap();
        buf
    }

    #[test]
    fn bands_and_bare() {
        let bare = session(Mode::None, |out| {
            out.progress(b"lost\n");
            out.report(b"0000").unwrap();
        });
        assert_eq!(bare, b"0000");
        let banded = session(Mode::SideBand64k, |out| {
            out.progress(b"hi\n");
            out.report(b"0000").unwrap();
        });
        assert_eq!(banded, b"0008\x02hi\n0009\x0100000000");
    }
}
