//! The HTTP endpoint: `GET /metrics` reads the machine and answers the whole
//! text at once (with its length), `GET /` a pointer to it, anything else
//! 404. Requests are served one at a time, each with a fresh reading.

use crate::collect::{collect, Options};
use crate::encode::{encode, CONTENT_TYPE};
use crate::gpm::GpmReader;
use mig_model::backend::Backend;
use std::panic::AssertUnwindSafe;

/// Why the exporter could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound (in use, no permission, malformed).
    #[error("cannot listen on {addr}: {reason} (pick another address with --listen HOST:PORT)")]
    Listen {
        /// The address asked for.
        addr: String,
        /// What the system said.
        reason: String,
    },
}

/// A bound exporter; [`Exporter::serve`] answers requests until the process ends.
pub struct Exporter {
    server: tiny_http::Server,
    backend: Box<dyn Backend>,
    options: Options,
    gpm: GpmReader,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// Bind `addr` (`HOST:PORT`; port 0 picks a free one).
    pub fn bind(
        addr: &str,
        backend: Box<dyn Backend>,
        options: Options,
    ) -> Result<Exporter, ServeError> {
        let server = tiny_http::Server::http(addr).map_err(|e| ServeError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Exporter {
            server,
            backend,
            options,
            gpm: GpmReader::new(),
        })
    }

    /// The address bound, e.g. `127.0.0.1:9400`.
    pub fn local_addr(&self) -> String {
        match self.server.server_addr() {
            tiny_http::ListenAddr::IP(a) => a.to_string(),
            #[allow(unreachable_patterns)]
            other => format!("{other:?}"),
        }
    }

    /// One scrape's text, as `/metrics` answers it.
    pub fn render(&self) -> Result<String, String> {
        let scrape = collect(self.backend.as_ref(), &self.gpm, &self.options);
        if let Err(e) = &scrape.machine {
            eprintln!("migctl exporter: {e}");
        }
        for f in &scrape.failed {
            eprintln!("migctl exporter: GPU {}: {}", f.device.index, f.error);
        }
        encode(&scrape).map_err(|e| format!("cannot encode the metrics: {e}"))
    }

    /// Answer requests until the process ends. A failure while reading is
    /// a series (`migctl_up 0`, `migctl_gpu_up 0`); a bug that panics answers
    /// 500 for that request and the next request is served.
    pub fn serve(&self) {
        for req in self.server.incoming_requests() {
            let path = req.url().split('?').next().unwrap_or("").to_string();
            let resp = match (req.method(), path.as_str()) {
                (tiny_http::Method::Get | tiny_http::Method::Head, "/metrics") => {
                    match std::panic::catch_unwind(AssertUnwindSafe(|| self.render())) {
                        Ok(Ok(text)) => respond(200, CONTENT_TYPE, text),
                        Ok(Err(e)) => respond(500, "text/plain; charset=utf-8", e + "\n"),
                        Err(_) => respond(
                            500,
                            "text/plain; charset=utf-8",
                            "reading the machine failed unexpectedly; see the exporter's log\n"
                                .into(),
                        ),
                    }
                }
                (tiny_http::Method::Get, "/") => respond(
                    200,
                    "text/html; charset=utf-8",
                    "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".into(),
                ),
                _ => respond(
                    404,
                    "text/plain; charset=utf-8",
                    "not found; metrics are at /metrics\n".into(),
                ),
            };
            if let Err(e) = req.respond(resp) {
                eprintln!("migctl exporter: cannot answer a request: {e}");
            }
        }
    }
}

fn respond(code: u16, ctype: &str, body: String) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut r = tiny_http::Response::from_string(body).with_status_code(code);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", ctype) {
        r.add_header(h);
    }
    r
}
