//! A small router: method plus path pattern, with `{name}` segments and a
//! trailing `{*rest}` wildcard.

use crate::http::{Request, Response};

/// A route handler.
pub type Handler = fn(&Request) -> Response;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

struct Route {
    method: String,
    segments: Vec<Segment>,
    handler: Handler,
}

/// Routes are tried in the order they were added.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => match name.strip_prefix('*') {
                Some(rest) => Segment::Rest(rest.to_string()),
                None => Segment::Param(name.to_string()),
            },
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

fn match_path(segments: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Rest(name) => {
                params.push((name.clone(), parts.get(i..).unwrap_or(&[]).join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                if parts.get(i) != Some(&lit.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => params.push((name.clone(), (*parts.get(i)?).to_string())),
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, method: &str, pattern: &str, handler: Handler) -> Self {
        self.routes.push(Route { method: method.to_ascii_uppercase(), segments: parse_pattern(pattern), handler });
        self
    }

    pub fn get(self, pattern: &str, handler: Handler) -> Self {
        self.route("GET", pattern, handler)
    }
    pub fn post(self, pattern: &str, handler: Handler) -> Self {
        self.route("POST", pattern, handler)
    }
    pub fn put(self, pattern: &str, handler: Handler) -> Self {
        self.route("PUT", pattern, handler)
    }
    pub fn patch(self, pattern: &str, handler: Handler) -> Self {
        self.route("PATCH", pattern, handler)
    }
    pub fn delete(self, pattern: &str, handler: Handler) -> Self {
        self.route("DELETE", pattern, handler)
    }

    /// Dispatches `req`: 404 when no pattern matches, 405 (with `allow`)
    /// when a pattern matches but not for this method.
    pub fn handle(&self, mut req: Request) -> Response {
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(params) = match_path(&route.segments, req.path()) else { continue };
            let head_as_get = req.method() == "HEAD" && route.method == "GET";
            if route.method == req.method() || head_as_get {
                req.params = params;
                return (route.handler)(&req);
            }
            allowed.push(&route.method);
        }
        if allowed.is_empty() {
            let detail = format!("no route for {} {}", req.method(), req.path());
            return req.error(404, "not_found", &detail);
        }
        allowed.dedup();
        let allow = allowed.join(", ");
        req.error(405, "method_not_allowed", &format!("allowed: {allow}")).with_header("allow", &allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(req: &Request) -> Response {
        Response::text(200, req.param("name").unwrap_or("-"))
    }

    fn rest(req: &Request) -> Response {
        Response::text(200, req.param("rest").unwrap_or("-"))
    }

    fn get(path: &str) -> Request {
        Request::new("GET", path, vec![("x-request-id".into(), b"r1".to_vec())], Vec::new())
    }

    #[test]
    fn captures_params_and_rest() {
        let router = Router::new().get("/hello/{name}", ok).get("/files/{*rest}", rest);
        assert_eq!(router.handle(get("/hello/ada")).body, b"ada");
        assert_eq!(router.handle(get("/files/a/b/c")).body, b"a/b/c");
        assert_eq!(router.handle(get("/hello/ada/extra")).status, 404);
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let router = Router::new().get("/x", ok).post("/x", ok);
        let res = router.handle(Request::new("DELETE", "/x", vec![], vec![]));
        assert_eq!(res.status, 405);
        assert!(res.headers.iter().any(|(k, v)| k == "allow" && v == b"GET, POST"));
    }

    #[test]
    fn not_found_uses_envelope_with_request_id() {
        let res = Router::new().handle(get("/nope"));
        assert_eq!(res.status, 404);
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(body["error"]["id"], "r1");
        assert_eq!(body["error"]["name"], "not_found");
    }

    #[test]
    fn query_params() {
        let req = get("/x?a=1&b=two&flag");
        assert_eq!(req.query_param("b"), Some("two"));
        assert_eq!(req.query_param("flag"), Some(""));
        assert_eq!(req.query_param("c"), None);
    }
}
