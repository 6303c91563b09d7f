//! The Prometheus scrape endpoint (serve's `--prometheus-scrape-port`, the embedded engine's
//! `prometheus` option): HTTP/1.1 over hyper, `GET /metrics` (and `/`, as drachtio-server's
//! exposer answers only /metrics; we are lenient) with the engine's counters rendered on each
//! scrape. Everything else is 404 (405 for other methods on /metrics).

use crate::engine::metrics::{Metrics, CONTENT_TYPE};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Concurrent scrape connections at most; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// A scrape connection idle (or slow to send its request) this long is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// `[ADDRESS:]PORT` as drachtio-server reads it (address 0.0.0.0 when absent).
pub fn parse_scrape_port(v: &str) -> Result<SocketAddr, String> {
    let bad = || format!("invalid Prometheus scrape port '{v}': expected [ADDRESS:]PORT");
    let v = v.trim();
    if let Ok(port) = v.parse::<u16>() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    let (host, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().map_err(|_| bad())?;
    Ok(SocketAddr::new(ip, port))
}

/// Binds `addr` and serves scrapes until `stop` turns true or its sender is dropped. Returns
/// the bound address (port 0 picks one).
pub async fn start(addr: SocketAddr, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot bind the Prometheus scrape port {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("Prometheus scrape port: {e}"))?;
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() { return }
                    continue;
                }
            };
            let Ok((stream, _)) = accepted else { continue };
            if active.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_CONNECTIONS {
                active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let (metrics, active, mut stop) = (metrics.clone(), active.clone(), stop.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                // A kept-alive scrape connection ends with the endpoint, not only when idle.
                tokio::select! {
                    _ = tokio::time::timeout(Duration::from_secs(300), conn) => {}
                    _ = async { while stop.changed().await.is_ok() && !*stop.borrow() {} } => {}
                }
                active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    Ok(bound)
}

fn answer<B>(req: &Request<B>, metrics: &Arc<Metrics>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let (status, content_type, body) = if path != "/metrics" && path != "/" {
        (StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"not found\n"))
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "text/plain", Bytes::from_static(b"method not allowed\n"))
    } else {
        (StatusCode::OK, CONTENT_TYPE, Bytes::from(metrics.render()))
    };
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        res.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn scrape_port_forms() {
        assert_eq!(parse_scrape_port("9090"), Ok("0.0.0.0:9090".parse().expect("addr")));
        assert_eq!(parse_scrape_port("127.0.0.1:8088"), Ok("127.0.0.1:8088".parse().expect("addr")));
        assert_eq!(parse_scrape_port("[::1]:8088"), Ok("[::1]:8088".parse().expect("addr")));
        assert!(parse_scrape_port("host:x").is_err());
        assert!(parse_scrape_port("70000").is_err());
        assert!(parse_scrape_port("").is_err());
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn serves_metrics_until_stopped() {
        let metrics = Arc::new(Metrics::new());
        metrics.message_in(Some(b"OPTIONS"), None, b"OPTIONS");
        let (stop, stopped) = watch::channel(false);
        let addr = start("127.0.0.1:0".parse().expect("addr"), metrics, stopped).await.expect("bind");
        let res = get(addr, "/metrics").await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        assert!(res.contains("application/openmetrics-text"));
        assert!(res.contains("drachtio_sip_requests_in_total{method=\"OPTIONS\"} 1"), "{res}");
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        // A kept-alive connection is closed when the endpoint stops.
        let mut kept = tokio::net::TcpStream::connect(addr).await.expect("connect");
        kept.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = vec![0u8; 65536];
        assert!(kept.read(&mut buf).await.expect("read") > 0);
        let _ = stop.send(true);
        let eof = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match kept.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        });
        assert!(eof.await.unwrap_or(false), "the kept-alive connection was closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
