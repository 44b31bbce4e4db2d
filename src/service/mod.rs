//! The services: upload-pack (clone/fetch), receive-pack (push) and upload-archive
//! (`git archive --remote`).
//!
//! A service gets an opened `&dyn Repository`, the request's options and the two byte streams;
//! it never touches files and never looks at how it was launched.

pub mod hooks;
pub mod progress_lines;
pub mod receive_pack;
pub mod refs_view;
pub mod settings;
pub mod upload_archive;
pub mod upload_pack;

/// The services Sluice can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `git-upload-pack`: clone, fetch, ls-remote.
    UploadPack,
    /// `git-receive-pack`: push.
    ReceivePack,
    /// `git-upload-archive`: `git archive --remote`.
    UploadArchive,
}

impl Service {
    /// The name git uses on the wire and in `ext::%S` (`git-upload-pack`).
    pub const fn wire_name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
            Service::UploadArchive => "git-upload-archive",
        }
    }
}
