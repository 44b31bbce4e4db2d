//! What the HTTP launcher reads from the repository's configuration, typed once per request
//! (`http.*`, and `receive.maxInputSize` for the body limit), with C git http-backend's
//! defaults. An invalid value refuses the request (C git's http-backend dies on one).

use crate::git_config::{Error, GitConfig};
use crate::service::settings::ReceivePackSettings;
use crate::service::Service;

/// `http.*` settings of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `http.getanyfile` (C git: true): dumb-protocol file reads.
    pub get_any_file: bool,
    /// `http.uploadpack` (C git: true).
    pub upload_pack: bool,
    /// `http.receivepack` as set (C git: on only for an authenticated user, see
    /// [`enabled`](Self::enabled)).
    pub receive_pack: Option<bool>,
    /// `http.maxRequestBuffer` in bytes (`None`: unset or 0).
    pub max_request_buffer: Option<u64>,
    /// `receive.maxInputSize` in bytes (0: unlimited).
    pub max_input_size: u64,
}

impl HttpSettings {
    /// Reads the settings from `config`.
    pub fn from_config(config: &GitConfig) -> Result<Self, Error> {
        let buffer = config.get_i64("http.maxRequestBuffer")?;
        Ok(HttpSettings {
            get_any_file: config.get_bool("http.getanyfile")?.unwrap_or(true),
            upload_pack: config.get_bool("http.uploadpack")?.unwrap_or(true),
            receive_pack: config.get_bool("http.receivepack")?,
            max_request_buffer: buffer
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0),
            max_input_size: ReceivePackSettings::from_config(config)?.max_input_size,
        })
    }

    /// Whether `service` is served (`authenticated`: the web server named a user).
    pub fn enabled(&self, service: Service, authenticated: bool) -> bool {
        match service {
            Service::UploadPack => self.upload_pack,
            Service::ReceivePack => self.receive_pack.unwrap_or(authenticated),
            // git http-backend has no upload-archive; the CGI never routes to it.
            Service::UploadArchive => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values() {
        let d = HttpSettings::from_config(&GitConfig::default()).unwrap();
        assert!(d.get_any_file && d.enabled(Service::UploadPack, false));
        assert!(!d.enabled(Service::ReceivePack, false) && d.enabled(Service::ReceivePack, true));
        let text =
            "[http]\nreceivepack = false\nmaxRequestBuffer = 1m\n[receive]\nmaxInputSize = 5\n";
        let c = GitConfig::parse(text.as_bytes(), "t").unwrap();
        let s = HttpSettings::from_config(&c).unwrap();
        assert!(!s.enabled(Service::ReceivePack, true));
        assert_eq!((s.max_request_buffer, s.max_input_size), (Some(1 << 20), 5));
        let bad = GitConfig::parse(b"[http]\nuploadpack = sure\n", "t").unwrap();
        assert!(HttpSettings::from_config(&bad).is_err());
    }
}
