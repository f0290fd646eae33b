//! `wasi:keyvalue` (store, atomics, batch; `0.2.0-draft`, the version
//! wasmtime ships), so that components written for Spin or wasmCloud's
//! key-value interfaces run here unchanged. Granted as `keyvalue`.
//!
//! It is a second door to the app's `cache` namespace, not a new store:
//! bucket `B`, key `K` is the cache key `kv:B:K` of the same app, on the same
//! backend (Redis, or the in-process cache), with the same limits and
//! timeout. The host's namespace still applies underneath, so no bucket name
//! reaches another app. Bucket names are 1 to 64 characters of `A-Z a-z 0-9
//! _ - .`; `open("")` opens `default`.
//!
//! Errors: a bad bucket name is `no-such-store`; everything else (backend
//! down, timeout, a value that is not a counter) is `other`, with a message
//! that holds no backend detail.

use super::cache::{AppCache, CacheError};
use crate::runtime::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::runtime::state::RequestState;
use wasmtime::component::Resource;

/// Keys per `list-keys` page asked of the backend.
const LIST_PAGE: usize = 100;
const MAX_BUCKET_NAME: usize = 64;

/// An open bucket: the key prefix inside the app's namespace.
pub struct Bucket {
    prefix: String,
}

fn other(error: CacheError) -> store::Error {
    store::Error::Other(error.to_string())
}

impl RequestState {
    fn keyvalue(&self) -> Result<AppCache, store::Error> {
        // Imports are checked against grants at load; never a trap if not.
        self.app.cache.clone().ok_or(store::Error::AccessDenied)
    }

    fn bucket_prefix(&mut self, bucket: &Resource<Bucket>) -> Result<String, store::Error> {
        self.table()
            .get(bucket)
            .map(|b| b.prefix.clone())
            .map_err(|_| store::Error::Other("bucket handle is not open".into()))
    }

    async fn kv_get(&mut self, bucket: &Resource<Bucket>, key: &str) -> Result<Option<Vec<u8>>, store::Error> {
        let prefix = self.bucket_prefix(bucket)?;
        self.keyvalue()?.get(&format!("{prefix}{key}")).await.map_err(other)
    }

    async fn kv_set(&mut self, bucket: &Resource<Bucket>, key: &str, value: &[u8]) -> Result<(), store::Error> {
        let prefix = self.bucket_prefix(bucket)?;
        self.keyvalue()?.set(&format!("{prefix}{key}"), value, None).await.map_err(other)
    }

    async fn kv_delete(&mut self, bucket: &Resource<Bucket>, key: &str) -> Result<(), store::Error> {
        let prefix = self.bucket_prefix(bucket)?;
        self.keyvalue()?.delete(&format!("{prefix}{key}")).await.map(|_| ()).map_err(other)
    }
}

fn valid_bucket_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_BUCKET_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl store::Host for RequestState {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
        self.keyvalue()?;
        let name = if identifier.is_empty() { "default" } else { identifier.as_str() };
        if !valid_bucket_name(name) {
            return Err(store::Error::NoSuchStore);
        }
        self.table()
            .push(Bucket { prefix: format!("kv:{name}:") })
            .map_err(|_| store::Error::Other("too many open resources".into()))
    }
}

impl store::HostBucket for RequestState {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        self.kv_get(&bucket, &key).await
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), store::Error> {
        self.kv_set(&bucket, &key, &value).await
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        self.kv_delete(&bucket, &key).await
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, store::Error> {
        Ok(self.kv_get(&bucket, &key).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, store::Error> {
        let prefix = self.bucket_prefix(&bucket)?;
        let (keys, cursor) = self.keyvalue()?.scan(&prefix, cursor.unwrap_or(0), LIST_PAGE).await.map_err(other)?;
        let keys = keys.into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)).collect();
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table().delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for RequestState {
    async fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: u64) -> Result<u64, store::Error> {
        let prefix = self.bucket_prefix(&bucket)?;
        let delta = i64::try_from(delta).map_err(|_| store::Error::Other("delta larger than 2^63 - 1".into()))?;
        let value = self.keyvalue()?.increment(&format!("{prefix}{key}"), delta).await.map_err(other)?;
        // The counter is shared with `cache`, which may have made it negative.
        u64::try_from(value).map_err(|_| store::Error::Other("counter is negative".into()))
    }
}

impl batch::Host for RequestState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let value = self.kv_get(&bucket, &key).await?;
            values.push(value.map(|v| (key, v)));
        }
        Ok(values)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        for (key, value) in key_values {
            self.kv_set(&bucket, &key, &value).await?;
        }
        Ok(())
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Result<(), store::Error> {
        for key in keys {
            self.kv_delete(&bucket, &key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;

    #[test]
    fn bucket_names_are_plain() {
        assert!(valid_bucket_name("default"));
        assert!(valid_bucket_name("sessions.v2-eu_1"));
        assert!(!valid_bucket_name(""));
        assert!(!valid_bucket_name("a:b"));
        assert!(!valid_bucket_name("*"));
        assert!(!valid_bucket_name(&"x".repeat(65)));
    }
}
