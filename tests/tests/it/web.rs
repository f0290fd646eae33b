//! The `web` component: the browser app's files, embedded and served with
//! ETags, the app's own routes falling back to index.html, and the API left
//! to its own apps on the same origin.

use budget_host_tests::{HostBuilder, component, expect_error, repo_root};

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_app_is_served_with_etags_and_falls_back_to_the_index() {
    let apps = format!(
        "[apps.web]\nroutes = [\"/\"]\ncomponent = \"{}\"\n\n[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{}\"\n",
        component("web").display(),
        component("hello").display()
    );
    let host = HostBuilder::new(apps).start().await;
    let index = std::fs::read(repo_root().join("web/index.html")).expect("web/index.html");

    for path in ["/", "/app", "/app/budgets/1234/months/2026-11", "/app/console"] {
        let response = host.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&response, "cache-control"), "no-cache");
        assert_eq!(response.bytes().await.expect("body").as_ref(), index.as_slice(), "{path} serves index.html");
    }

    // Every shipped file, byte for byte, with its type; tests stay out.
    let web = repo_root().join("web");
    let mut files = Vec::new();
    let mut dirs = vec![web.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read web/").filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if !["tests", ".node", "node_modules"].contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| ["js", "css", "html"].contains(&e.to_string_lossy().as_ref())) {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 3, "web/ has the app: {files:?}");
    for file in &files {
        let relative = format!("/{}", file.strip_prefix(&web).expect("under web/").to_string_lossy());
        let response = host.get(&relative).await;
        assert_eq!(response.status(), 200, "{relative}");
        let expected = if relative.ends_with(".js") { "text/javascript" } else { "text/" };
        assert!(header(&response, "content-type").starts_with(expected), "{relative}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let bytes = response.bytes().await.expect("body");
        assert_eq!(bytes.as_ref(), std::fs::read(file).expect("read").as_slice(), "{relative}");
    }

    let first = host.get("/index.html").await;
    let etag = header(&first, "etag");
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    let again = host.client.get(host.url("/")).header("if-none-match", &etag).send().await.expect("send");
    assert_eq!(again.status(), 304);
    let weak = host.client.get(host.url("/")).header("if-none-match", format!("W/{etag}")).send().await.expect("send");
    assert_eq!(weak.status(), 304);

    expect_error(host.get("/no-such-file.js").await, 404, "not_found").await;
    expect_error(host.get("/tests/money.test.mjs").await, 404, "not_found").await;
    let post = host.client.post(host.url("/")).send().await.expect("send");
    assert_eq!(header(&post, "allow"), "GET, HEAD");
    expect_error(post, 405, "method_not_allowed").await;
    // The API's apps keep their own prefixes on the same origin.
    assert_eq!(host.get("/hello/x").await.status(), 200);
}

#[tokio::test]
async fn a_configured_api_base_goes_into_the_index() {
    let apps = format!(
        "[apps.web]\nroutes = [\"/\"]\ncomponent = \"{}\"\n[apps.web.config]\napi_base = \"/api\"\n",
        component("web").display()
    );
    let host = HostBuilder::new(apps).start().await;
    let response = host.get("/app/budgets").await;
    assert_eq!(response.status(), 200);
    let etag = header(&response, "etag");
    let page = response.text().await.expect("text");
    assert!(page.contains(r#"<meta name="budget-api-base" content="/api">"#), "{page}");
    let again = host.client.get(host.url("/")).header("if-none-match", &etag).send().await.expect("send");
    assert_eq!(again.status(), 304, "the configured page has its own ETag");
    let plain = std::fs::read_to_string(repo_root().join("web/index.html")).expect("index");
    assert!(plain.contains(r#"<meta name="budget-api-base" content="">"#), "the committed page leaves it empty");
}
