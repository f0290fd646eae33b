//! Connection admission against anonymous clients: silent connections, a
//! partial HTTP/1 head and a partial HTTP/2 preface are closed when the
//! header timeout passes, while a bystander is served; past the connection
//! cap new connections wait, and are served once the silent ones are gone.

use budget_host_tests::{HostBuilder, HostProcess, component};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn hello_apps() -> String {
    format!("[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{}\"\n", component("hello").display())
}

fn address(host: &HostProcess) -> String {
    host.url("").trim_start_matches("http://").to_string()
}

async fn open(address: &str, first_bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    if !first_bytes.is_empty() {
        stream.write_all(first_bytes).await.expect("write");
    }
    stream
}

/// Whether the server closed the connection (EOF or reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 256];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An HTTP/1 error answer before the close is fine; keep reading.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn silent_and_partial_connections_are_closed_and_a_bystander_is_served() {
    let host = HostBuilder::new(hello_apps()).with_ops_listener().arg("--header-timeout-ms").arg("1000").start().await;
    let address = address(&host);
    let mut idle = Vec::new();
    for i in 0..400 {
        let first: &[u8] = match i % 4 {
            0 | 1 => b"",
            2 => b"GET /hello/x HTTP/1.1\r\nHost: x\r\n",
            _ => b"PRI * HTTP/2.0\r\n\r\n",
        };
        idle.push(open(&address, first).await);
    }
    // The bystander is served while they are open.
    let bystander = host.get("/hello/bystander").await;
    assert_eq!(bystander.status(), 200);

    let started = Instant::now();
    for stream in &mut idle {
        assert!(
            closed_by_server(stream, Duration::from_secs(10)).await,
            "a connection without a complete request head was still open after {:?}",
            started.elapsed()
        );
    }
    assert!(host.metric("budget_host_connections_closed_total{reason=\"first_request_timeout\"}").await >= 300.0);
    assert_eq!(host.get("/hello/after").await.status(), 200);
}

#[tokio::test]
async fn past_the_cap_connections_wait_and_are_then_served() {
    let host = HostBuilder::new(hello_apps())
        .with_ops_listener()
        .arg("--header-timeout-ms")
        .arg("1500")
        .arg("--max-connections")
        .arg("20")
        .start()
        .await;
    let address = address(&host);
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(open(&address, b"").await);
    }
    // The cap holds (the operations listener has its own slots, so /metrics answers).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open_now = host.metric("budget_host_open_connections").await;
    assert!(open_now <= 21.0, "{open_now} connections open past a cap of 20 (+1 for the scrape)");
    assert!(open_now >= 20.0, "the silent connections should fill the cap, saw {open_now}");

    // A bystander waits in the backlog and is served once the silent ones time out.
    let response = tokio::time::timeout(Duration::from_secs(30), host.get("/hello/patient"))
        .await
        .expect("the bystander was never served");
    assert_eq!(response.status(), 200);
    drop(silent);
}
