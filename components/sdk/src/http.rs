//! Request and response types over `wasi:http`, and the glue that reads an
//! incoming request and writes the response back.

use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::bindings::wasi::io::streams::StreamError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `blocking-write-and-flush` accepts at most this many bytes per call.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

/// An incoming request with its body read in full (the host caps its size).
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    pub(crate) params: Vec<(String, String)>,
}

impl Request {
    /// Builds a request by hand, for unit tests of handlers.
    pub fn new(method: &str, path_with_query: &str, headers: Vec<(String, Vec<u8>)>, body: Vec<u8>) -> Self {
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_with_query.to_string(), None),
        };
        Self { method: method.to_ascii_uppercase(), path, query, headers, body, params: Vec::new() }
    }

    /// The method in upper case, for example `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The full path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of query parameter `name` (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is a
    /// space); `None` when absent or not valid UTF-8 once decoded.
    pub fn query_value(&self, name: &str) -> Option<String> {
        percent_decode(self.query_param(name)?)
    }

    /// A path parameter captured by the [`Router`](crate::Router).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive) if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The id the host gave this request (`x-request-id`).
    pub fn request_id(&self) -> &str {
        self.header("x-request-id").unwrap_or("")
    }

    /// Parses the body as JSON, or returns the 400/415 response to send.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Response> {
        if let Some(ct) = self.header("content-type")
            && !ct.to_ascii_lowercase().starts_with("application/json")
        {
            return Err(self.error(415, "unsupported_media_type", "expected application/json"));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| self.error(400, "invalid_json", &format!("request body is not valid JSON: {e}")))
    }

    /// 422 `validation_failed`: the envelope plus one entry per invalid field.
    pub fn invalid(&self, fields: &[(&str, String)]) -> Response {
        let fields: Vec<serde_json::Value> =
            fields.iter().map(|(field, message)| serde_json::json!({ "field": field, "message": message })).collect();
        Response::json(
            422,
            &serde_json::json!({
                "error": {
                    "id": self.request_id(),
                    "name": "validation_failed",
                    "detail": "some fields are invalid",
                    "fields": fields,
                }
            }),
        )
    }

    /// The platform's error envelope, carrying this request's id.
    pub fn error(&self, status: u16, name: &str, detail: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({
                "error": { "id": self.request_id(), "name": name, "detail": detail }
            }),
        )
    }
}

/// Decodes `%XX` escapes and `+` (form encoding's space).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod decode_tests {
    use super::percent_decode;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(percent_decode("Corner+Shop").as_deref(), Some("Corner Shop"));
        assert_eq!(percent_decode("Caf%C3%A9%20%26%20Bar").as_deref(), Some("Café & Bar"));
        assert_eq!(percent_decode("100%"), None);
        assert_eq!(percent_decode("%ZZ"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}

/// A response held in memory until the handler returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A JSON response. Serialising plain data cannot fail; if a value's own
    /// `Serialize` does, the response is a 500 envelope rather than a panic.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status).with_header("content-type", "application/json").with_body(body),
            Err(_) => Self::new(500).with_header("content-type", "application/json").with_body(
                br#"{"error":{"id":"","name":"internal","detail":"response could not be serialised"}}"#.to_vec(),
            ),
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(text.as_bytes().to_vec())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.as_bytes().to_vec()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

/// Reads `request`, runs `handler`, and writes its response to `out`.
/// A failure to read the body is answered with a 400 envelope.
pub fn serve(request: IncomingRequest, out: ResponseOutparam, handler: impl FnOnce(Request) -> Response) {
    let response = match read_request(&request) {
        Ok(req) => handler(req),
        Err(detail) => {
            let id = header_value(&request.headers().entries(), "x-request-id");
            Request::new("GET", "/", vec![("x-request-id".into(), id.into_bytes())], Vec::new()).error(
                400,
                "bad_request",
                &detail,
            )
        }
    };
    write_response(out, response);
}

fn header_value(entries: &[(String, Vec<u8>)], name: &str) -> String {
    entries
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.to_ascii_uppercase(),
    }
}

fn read_request(request: &IncomingRequest) -> Result<Request, String> {
    let method = method_name(request.method());
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_string());
    let headers = request.headers().entries();
    let body = match request.consume() {
        Ok(body) => read_body(body)?,
        Err(()) => Vec::new(),
    };
    Ok(Request::new(&method, &path_with_query, headers, body))
}

fn read_body(body: IncomingBody) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "request body stream unavailable".to_string())?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("request body could not be read: {}", e.to_debug_string()));
                }
            }
        }
        // The stream is a child of the body and must be dropped first.
    }
    let _trailers = IncomingBody::finish(body);
    Ok(bytes)
}

fn write_response(out: ResponseOutparam, response: Response) {
    let fields: Vec<(String, Vec<u8>)> = response.headers;
    let headers = match Fields::from_list(&fields) {
        Ok(headers) => headers,
        Err(_) => {
            ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some("invalid response header".into()))));
            return;
        }
    };
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(response.status).is_err() {
        ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some("invalid status code".into()))));
        return;
    }
    let Ok(body) = outgoing.body() else {
        ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some("response body unavailable".into()))));
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    {
        let Ok(stream) = body.write() else { return };
        for chunk in response.body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away or the host cut the response; nothing
                // more can be sent.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
