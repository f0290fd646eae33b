//! `wasi:config/store`: the app's `[config]` table from `apps.toml`,
//! shared read-only by every request of the app.

use crate::runtime::bindings::wasi::config::store::{Error, Host};
use crate::runtime::state::RequestState;

impl Host for RequestState {
    fn get(&mut self, key: String) -> Result<Option<String>, Error> {
        Ok(self.app.config.get(&key).cloned())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(self.app.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}
