//! Loose objects (`objects/xx/yyyy...`) of an object directory.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use super::FsObjectStore;
use crate::backend::Error;
use crate::hash::ObjectId;
use crate::odb::loose;

impl FsObjectStore {
    pub(super) fn loose_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    pub(super) fn read_loose_file(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, Error> {
        let path = self.loose_path(id);
        match File::open(&path) {
            Ok(mut f) => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    /// Loose object `id` of this object directory (not its alternates) opened as a stream of
    /// its content; `None` when there is no such file.
    pub fn stream_loose(
        &self,
        id: &ObjectId,
    ) -> Result<Option<loose::Stream<std::io::BufReader<File>>>, Error> {
        self.open_loose(id, 64 << 10)
    }

    /// [`FsObjectStore::stream_loose`] reading the file `buffer` bytes at a time (small when
    /// only the header is wanted).
    pub(super) fn open_loose(
        &self,
        id: &ObjectId,
        buffer: usize,
    ) -> Result<Option<loose::Stream<std::io::BufReader<File>>>, Error> {
        let path = self.loose_path(id);
        match File::open(&path) {
            Ok(f) => loose::stream(std::io::BufReader::with_capacity(buffer, f))
                .map(Some)
                .map_err(|e| Error::corrupt(format!("loose object {id}"), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }
}
