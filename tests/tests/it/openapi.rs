//! The OpenAPI document against the code: every route the ledger's router
//! (and the api-docs component) serves is in `docs/openapi.json` with the
//! same method, and nothing else is; and the host serves exactly the
//! committed document at `/v1/openapi.json`. A new endpoint without its
//! documentation, or a documented one that went away, fails here, and
//! schemathesis (`just test`) then checks the answers against the schemas.

use budget_host_tests::{HostBuilder, component, repo_root};
use std::collections::BTreeSet;

/// `/v1/budgets/{budget}/x` → `/v1/budgets/{}/x`: parameter names may differ.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "{}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// `(METHOD, path shape)` for every `.get("/v1/…", …)`-style route in a component's source.
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for method in ["get", "post", "put", "patch", "delete"] {
        let needle = format!(".{method}(\"/v1");
        let mut rest = source;
        while let Some(at) = rest.find(&needle) {
            let path_start = at + needle.len() - 3;
            let path_end = rest[path_start..].find('"').map(|end| path_start + end).expect("closing quote");
            routes.insert((method.to_uppercase(), shape(&rest[path_start..path_end])));
            rest = &rest[path_end..];
        }
    }
    routes
}

fn document() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join("docs/openapi.json")).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("the document is JSON")
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let mut served = BTreeSet::new();
    for file in ["components/ledger/src/lib.rs", "components/api-docs/src/lib.rs"] {
        let source = std::fs::read_to_string(repo_root().join(file)).expect("component source");
        served.extend(routes_in(&source));
    }
    assert!(served.len() > 20, "the route scan found too little: {served:?}");
    let document = document();
    assert_eq!(document["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if operations.get(method).is_some() {
                documented.insert((method.to_uppercase(), shape(path)));
            }
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in docs/openapi.json: {undocumented:?}");
    assert!(missing.is_empty(), "in docs/openapi.json but not served: {missing:?}");
}

#[tokio::test]
async fn the_host_serves_the_committed_document() {
    let apps = format!(
        "[apps.api_docs]\nroutes = [\"/v1/openapi.json\"]\ncomponent = \"{}\"\n",
        component("api_docs").display()
    );
    let host = HostBuilder::new(apps).start().await;
    let response = host.get("/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).expect("etag").to_string();
    let served: serde_json::Value = response.json().await.expect("json");
    assert_eq!(served, document(), "the served document is the committed one");
    let revalidated =
        host.client.get(host.url("/v1/openapi.json")).header("if-none-match", &etag).send().await.expect("send");
    assert_eq!(revalidated.status(), 304);
}
