//! Outgoing HTTP (`wasi:http/outgoing-handler`) is linked, so components
//! that import it still load, but every request is denied with
//! `HTTP-request-denied`: components reach the outside world only through
//! the platform's capabilities.

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

pub struct DenyOutboundHttp;

type SendResult = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>;

impl WasiHttpHooks for DenyOutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _io: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        tracing::debug!(uri = %request.uri(), "outgoing HTTP request denied");
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}
