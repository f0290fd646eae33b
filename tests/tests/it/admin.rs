//! The admin API's component versions against a real PostgreSQL: bearer
//! auth, the upload validation matrix (nothing stored on refusal),
//! immutability, list/get/delete, and versions surviving a host restart.

use budget_host_tests::{HostBuilder, HostProcess, TestDatabase, component, expect_error};
use reqwest::Method;
use serde_json::Value;

const TOKEN: &str = "test-admin-token-0123456789";

/// `hello` (no capabilities) and `cachey`, which is granted nothing, so
/// the `probe` component (it imports `cache`) is refused for it.
fn apps() -> String {
    let hello = component("hello");
    format!(
        "[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{h}\"\n\n\
         [apps.cachey]\nroutes = [\"/cachey\"]\ncomponent = \"{h}\"\ncapabilities = []\n",
        h = hello.display()
    )
}

async fn host(db: &TestDatabase) -> HostProcess {
    HostBuilder::new(apps())
        .database(db)
        .arg("--admin-token")
        .arg(TOKEN)
        .arg("--admin-max-upload-bytes")
        .arg("4000000")
        .start()
        .await
}

async fn admin(host: &HostProcess, method: Method, path: &str, body: Vec<u8>) -> reqwest::Response {
    host.client.request(method, host.url(path)).bearer_auth(TOKEN).body(body).send().await.expect("send")
}

async fn versions(host: &HostProcess, app: &str) -> Vec<Value> {
    let response = admin(host, Method::GET, &format!("/admin/v1/apps/{app}/versions"), Vec::new()).await;
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().await.expect("json list")
}

fn hello_bytes() -> Vec<u8> {
    std::fs::read(component("hello")).expect("read hello.wasm")
}

#[tokio::test]
async fn the_token_is_required_and_checked() {
    let db = TestDatabase::create().await;
    let host = host(&db).await;
    let url = host.url("/admin/v1/apps/hello/versions");
    let none = host.client.get(&url).send().await.expect("send");
    assert_eq!(none.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    expect_error(none, 401, "unauthorized").await;
    let wrong = host.client.get(&url).bearer_auth("test-admin-token-012345678X").send().await.expect("send");
    expect_error(wrong, 403, "forbidden").await;
    let basic = host.client.get(&url).basic_auth("admin", Some(TOKEN)).send().await.expect("send");
    expect_error(basic, 401, "unauthorized").await;
    assert_eq!(admin(&host, Method::GET, "/admin/v1/apps/hello/versions", Vec::new()).await.status(), 200);
}

#[tokio::test]
async fn without_a_configured_token_the_admin_api_is_absent() {
    let host = HostBuilder::new(apps()).start().await;
    let response = admin(&host, Method::GET, "/admin/v1/apps/hello/versions", Vec::new()).await;
    expect_error(response, 404, "not_found").await;
}

#[tokio::test]
async fn upload_is_validated_and_refusals_store_nothing() {
    let db = TestDatabase::create().await;
    let host = host(&db).await;
    let hello = hello_bytes();
    let put = |app: &str, version: &str| format!("/admin/v1/apps/{app}/versions/{version}");

    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let body =
        expect_error(admin(&host, Method::PUT, &put("hello", "1.0.0"), random).await, 422, "invalid_component").await;
    assert!(body["error"]["detail"].as_str().is_some_and(|d| d.contains("not a WebAssembly binary")), "{body}");

    // The smallest valid core module: magic and version, no sections.
    let core = b"\0asm\x01\0\0\0".to_vec();
    let body =
        expect_error(admin(&host, Method::PUT, &put("hello", "1.0.0"), core).await, 422, "invalid_component").await;
    assert!(body["error"]["detail"].as_str().is_some_and(|d| d.contains("core WebAssembly module")), "{body}");

    let truncated = hello[..hello.len() / 2].to_vec();
    let body =
        expect_error(admin(&host, Method::PUT, &put("hello", "1.0.0"), truncated).await, 422, "invalid_component")
            .await;
    assert!(body["error"]["detail"].as_str().is_some_and(|d| d.contains("does not compile")), "{body}");

    let probe = std::fs::read(component("probe")).expect("read probe.wasm");
    let body =
        expect_error(admin(&host, Method::PUT, &put("cachey", "1.0.0"), probe).await, 422, "invalid_component").await;
    assert!(
        body["error"]["detail"].as_str().is_some_and(
            |d| d.contains("budget:platform/cache@0.1.0") && d.contains("not granted the `cache` capability")
        ),
        "names the import: {body}"
    );

    let oversized = vec![0u8; 4_000_001];
    expect_error(admin(&host, Method::PUT, &put("hello", "1.0.0"), oversized).await, 413, "payload_too_large").await;

    let body =
        expect_error(admin(&host, Method::PUT, &put("hello", "1.x"), hello.clone()).await, 400, "bad_request").await;
    assert!(body["error"]["detail"].as_str().is_some_and(|d| d.contains("not a semantic version")), "{body}");

    expect_error(admin(&host, Method::PUT, &put("nosuchapp", "1.0.0"), hello.clone()).await, 404, "not_found").await;

    assert!(versions(&host, "hello").await.is_empty(), "no refused upload was stored");
    assert!(versions(&host, "cachey").await.is_empty(), "no refused upload was stored");
}

#[tokio::test]
async fn versions_are_immutable_listed_and_deletable() {
    let db = TestDatabase::create().await;
    let host = host(&db).await;
    let hello = hello_bytes();
    let path = "/admin/v1/apps/hello/versions/1.2.3";

    let created = admin(&host, Method::PUT, path, hello.clone()).await;
    assert_eq!(created.status(), 201);
    let record: Value = created.json().await.expect("json");
    assert_eq!(record["app"], "hello");
    assert_eq!(record["version"], "1.2.3");
    assert_eq!(record["size"], hello.len());
    assert_eq!(record["digest"].as_str().map(str::len), Some(64), "{record}");
    assert!(
        record["imports"]
            .as_array()
            .is_some_and(|i| i.iter().any(|v| v.as_str().is_some_and(|s| s.starts_with("wasi:http/types@")))),
        "{record}"
    );

    // The same bytes again: 200, nothing changes.
    let again = admin(&host, Method::PUT, path, hello.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.expect("json"), record);

    // Other bytes under the same version: 409, and the stored one stays.
    let greeter = std::fs::read(component("greeter")).expect("read greeter.wasm");
    let body = expect_error(admin(&host, Method::PUT, path, greeter.clone()).await, 409, "conflict").await;
    assert!(
        body["error"]["detail"].as_str().is_some_and(|d| d.contains(record["digest"].as_str().unwrap_or("?"))),
        "{body}"
    );
    let got = admin(&host, Method::GET, path, Vec::new()).await;
    assert_eq!(got.json::<Value>().await.expect("json"), record);

    assert_eq!(admin(&host, Method::PUT, "/admin/v1/apps/hello/versions/1.3.0", greeter).await.status(), 201);
    let listed: Vec<String> =
        versions(&host, "hello").await.iter().filter_map(|v| v["version"].as_str().map(str::to_string)).collect();
    assert_eq!(listed, ["1.2.3", "1.3.0"]);

    // Stored durably: a new host process on the same database sees them.
    drop(host);
    let host = self::host(&db).await;
    assert_eq!(versions(&host, "hello").await.len(), 2);

    assert_eq!(admin(&host, Method::DELETE, path, Vec::new()).await.status(), 204);
    expect_error(admin(&host, Method::GET, path, Vec::new()).await, 404, "not_found").await;
    expect_error(admin(&host, Method::DELETE, path, Vec::new()).await, 404, "not_found").await;
    assert_eq!(versions(&host, "hello").await.len(), 1);
}
