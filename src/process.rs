//! Starting helper processes (hooks).

use std::process::{Child, Command};

/// `ETXTBSY` on Linux.
const TEXT_FILE_BUSY: i32 = 26;

/// Spawns `cmd`, trying again for a short while when the executable is "text file busy": a hook
/// script that was just replaced can still be open for writing in a process that forked before
/// the writer closed it (until that process execs), which makes exec fail although nothing is
/// wrong. Other errors are returned at once.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(TEXT_FILE_BUSY) && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 * attempt));
            }
            other => return other,
        }
    }
}
