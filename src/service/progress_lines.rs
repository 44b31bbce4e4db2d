//! Renders [`Progress`](crate::progress::Progress) as the lines git prints as `remote: ...`
//! (`Counting objects: 100% (10/10), done.`), throttled so a fast step does not flood the band.

use std::time::{Duration, Instant};

use crate::progress::Progress;

/// Formats progress lines and hands each to `emit` (which writes it to sideband 2).
pub struct ProgressLines<F: FnMut(&[u8])> {
    emit: F,
    last: Option<Instant>,
    interval: Duration,
}

impl<F: FnMut(&[u8])> ProgressLines<F> {
    /// A renderer calling `emit` with each finished line (`\r`-terminated updates, `\n` at the end
    /// of a stage, as git's progress.c does).
    pub fn new(emit: F) -> Self {
        ProgressLines {
            emit,
            last: None,
            interval: Duration::from_millis(500),
        }
    }

    fn line(title: &str, done: u64, total: Option<u64>) -> String {
        match total {
            Some(t) if t > 0 => {
                let pct = done.saturating_mul(100) / t;
                format!("{title}: {pct:3}% ({done}/{t})")
            }
            _ => format!("{title}: {done}"),
        }
    }
}

impl<F: FnMut(&[u8])> Progress for ProgressLines<F> {
    fn update(&mut self, title: &str, done: u64, total: Option<u64>) {
        let now = Instant::now();
        if let Some(last) = self.last {
            if now.duration_since(last) < self.interval {
                return;
            }
        }
        self.last = Some(now);
        let text = format!("{}\r", Self::line(title, done, total));
        (self.emit)(text.as_bytes());
    }

    fn finish(&mut self, title: &str, done: u64, total: Option<u64>) {
        self.last = None;
        let text = format!("{}, done.\n", Self::line(title, done, total));
        (self.emit)(text.as_bytes());
    }

    fn message(&mut self, text: &str) {
        (self.emit)(format!("{text}\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_git() {
        let mut out = Vec::new();
        {
            let mut p = ProgressLines::new(|b: &[u8]| out.extend_from_slice(b));
            p.update("Counting objects", 1, Some(4));
            p.update("Counting objects", 2, Some(4));
            p.finish("Counting objects", 4, Some(4));
            p.message("Total 4 (delta 0)");
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Counting objects:  25% (1/4)\rCounting objects: 100% (4/4), done.\nTotal 4 (delta 0)\n"
        );
    }
}
