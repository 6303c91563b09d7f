//! `drachtio-rs serve` as the CLI (lib/cli.js) drives it: parse argv, start, stop.

use super::runtime;
use crate::server::args::{self, Parsed};
use crate::server::Server;
use napi_derive::napi;
use std::sync::Arc;

#[napi]
pub fn serve_usage() -> String {
    args::USAGE.to_owned()
}

#[napi]
pub struct NativeServer {
    server: Arc<Server>,
}

#[napi]
impl NativeServer {
    /// Parses drachtio-server style flags and starts listening (admin port and SIP contacts);
    /// throws with a message meant for the user on bad flags or a busy port.
    #[napi(factory)]
    pub fn start(argv: Vec<String>) -> napi::Result<NativeServer> {
        let config = match args::parse(&argv).map_err(napi::Error::from_reason)? {
            Parsed::Run(c) => c,
            Parsed::Help => return Err(napi::Error::from_reason(args::USAGE)),
            Parsed::Version => {
                // As drachtio-server's -v: the version on stdout, exit 0.
                println!("{}", crate::engine::VERSION);
                std::process::exit(0);
            }
        };
        crate::log::init(Some(&config.loglevel));
        let rt = runtime::handle()?;
        let server = rt.block_on(Server::start(config)).map_err(napi::Error::from_reason)?;
        Ok(NativeServer { server: Arc::new(server) })
    }

    /// The admin (control) address apps connect to.
    #[napi(getter)]
    pub fn admin(&self) -> String {
        self.server.admin.to_string()
    }

    /// The admin TLS address, when serve listens for apps over TLS.
    #[napi(getter)]
    pub fn admin_tls(&self) -> Option<String> {
        self.server.admin_tls.map(|a| a.to_string())
    }

    /// The SIP listening points, e.g. `udp/127.0.0.1:5060,tcp/127.0.0.1:5060`.
    #[napi(getter)]
    pub fn sip(&self) -> String {
        self.server.sip.clone()
    }

    /// Stops: apps are disconnected, their open transactions answered, sockets closed.
    #[napi]
    pub fn stop(&self) -> napi::Result<()> {
        let server = self.server.clone();
        runtime::handle()?.block_on(async move { server.shutdown().await });
        Ok(())
    }
}
