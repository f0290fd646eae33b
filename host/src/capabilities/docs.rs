//! `budget:platform/docs`: MongoDB for components, one database per app.
//!
//! Each app gets the database `<BUDGET_MONGODB_DB_PREFIX>_<name>` and can
//! name only collections inside it: the host picks the database, the
//! component passes a collection name. Documents, filters, updates, sorts,
//! projections and pipelines cross the boundary as Extended JSON v2 text
//! (relaxed or canonical in, relaxed out), so ObjectIds, dates and 64-bit
//! integers survive. `$out` and `$merge` may only write to the app's own
//! database.
//!
//! Limits per call: at most `max_documents` documents returned (a `find`
//! limit above it is capped; an `aggregate` beyond it gives
//! `result-too-large`) and the host's docs timeout. A server that is down
//! gives `unavailable` (or `timeout`), never a trap.

use crate::runtime::bindings::budget::platform::docs::{
    Ejson, Error, FindOptions, Host, IndexOptions, UpdateResult, WriteFailure,
};
use crate::runtime::state::RequestState;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure as MongoWriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use std::future::Future;
use std::time::Duration;

const DUPLICATE_KEY: i32 = 11000;

#[derive(Debug, Clone)]
pub struct DocsSettings {
    pub url: String,
    pub database_prefix: String,
    pub timeout: Duration,
    pub max_documents: u32,
}

/// The process's MongoDB client (one connection pool for all apps).
pub struct DocsBackend {
    client: Client,
    settings: DocsSettings,
    endpoint: String,
}

impl DocsBackend {
    pub async fn connect(settings: DocsSettings) -> Result<Self, mongodb::error::Error> {
        let mut options = ClientOptions::parse(&settings.url).await?;
        options.app_name = Some("budget-host".into());
        options.server_selection_timeout = Some(settings.timeout);
        options.connect_timeout = Some(settings.timeout);
        let endpoint = options.hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let client = Client::with_options(options)?;
        Ok(Self { client, settings, endpoint })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn database_name(&self, app: &str) -> String {
        format!("{}_{app}", self.settings.database_prefix)
    }

    pub fn app_docs(&self, app: &str) -> AppDocs {
        AppDocs {
            database: self.client.database(&self.database_name(app)),
            timeout: self.settings.timeout,
            max_documents: self.settings.max_documents,
        }
    }

    pub async fn ping(&self) -> bool {
        let admin = self.client.database("admin");
        let ping = admin.run_command(mongodb::bson::doc! { "ping": 1 });
        matches!(tokio::time::timeout(self.settings.timeout, ping).await, Ok(Ok(_)))
    }
}

/// One app's database handle.
#[derive(Clone)]
pub struct AppDocs {
    database: Database,
    timeout: Duration,
    max_documents: u32,
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::InvalidArgument(detail.into())
}

fn parse_bson(text: &str, what: &str) -> Result<Bson, Error> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("{what} is not valid JSON: {e}")))?;
    Bson::try_from(json).map_err(|e| invalid(format!("{what} is not valid Extended JSON: {e}")))
}

fn parse_document(text: &str, what: &str) -> Result<Document, Error> {
    match parse_bson(text, what)? {
        Bson::Document(document) => Ok(document),
        _ => Err(invalid(format!("{what} must be a JSON object"))),
    }
}

fn to_ejson(value: Bson) -> Ejson {
    value.into_relaxed_extjson().to_string()
}

fn classify(error: mongodb::error::Error) -> Error {
    match *error.kind {
        ErrorKind::Write(MongoWriteFailure::WriteError(ref e)) if e.code == DUPLICATE_KEY => {
            Error::DuplicateKey(e.message.clone())
        }
        ErrorKind::Write(MongoWriteFailure::WriteError(ref e)) => {
            Error::WriteFailed(WriteFailure { code: e.code, message: e.message.clone() })
        }
        ErrorKind::Write(MongoWriteFailure::WriteConcernError(ref e)) => {
            Error::WriteFailed(WriteFailure { code: e.code, message: e.message.clone() })
        }
        ErrorKind::InsertMany(ref e) => match e.write_errors.as_ref().and_then(|w| w.first()) {
            Some(w) if w.code == DUPLICATE_KEY => Error::DuplicateKey(w.message.clone()),
            Some(w) => Error::WriteFailed(WriteFailure { code: w.code, message: w.message.clone() }),
            None => Error::WriteFailed(WriteFailure { code: 0, message: "insert failed".into() }),
        },
        ErrorKind::Command(ref e) if e.code == DUPLICATE_KEY => Error::DuplicateKey(e.message.clone()),
        ErrorKind::Command(ref e) => Error::CommandFailed(WriteFailure { code: e.code, message: e.message.clone() }),
        ErrorKind::InvalidArgument { ref message, .. } => invalid(message.clone()),
        _ => {
            tracing::warn!(%error, "mongodb unavailable");
            Error::Unavailable("document database unavailable".into())
        }
    }
}

/// Collection names a component may use: no `$`, no NUL, not `system.*`.
fn collection_name(name: &str) -> Result<&str, Error> {
    if name.is_empty() || name.len() > 120 || name.contains(['$', '\0']) || name.starts_with("system.") {
        return Err(invalid(format!("`{name}` is not a collection name this interface accepts")));
    }
    Ok(name)
}

/// Refuses `$out`/`$merge` stages that name another database.
fn check_pipeline(pipeline: &[Document], own: &str) -> Result<(), Error> {
    for stage in pipeline {
        for key in ["$out", "$merge"] {
            let target = match stage.get(key) {
                Some(Bson::Document(spec)) => match spec.get("db").or_else(|| match spec.get("into") {
                    Some(Bson::Document(into)) => into.get("db"),
                    _ => None,
                }) {
                    Some(Bson::String(db)) => Some(db.clone()),
                    _ => None,
                },
                _ => None,
            };
            if target.is_some_and(|db| db != own) {
                return Err(invalid(format!("{key} may only write to the app's own database")));
            }
        }
    }
    Ok(())
}

impl AppDocs {
    fn collection(&self, name: &str) -> Result<Collection<Document>, Error> {
        Ok(self.database.collection(collection_name(name)?))
    }

    async fn bounded<T>(&self, operation: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, operation).await.unwrap_or(Err(Error::Timeout))
    }

    async fn collect(
        &self,
        mut cursor: mongodb::Cursor<Document>,
        cap: usize,
        strict: bool,
    ) -> Result<Vec<Ejson>, Error> {
        let mut out = Vec::new();
        while let Some(document) = cursor.try_next().await.map_err(classify)? {
            if out.len() >= cap {
                if strict {
                    return Err(Error::ResultTooLarge(format!("more than {cap} documents")));
                }
                break;
            }
            out.push(to_ejson(Bson::Document(document)));
        }
        Ok(out)
    }
}

impl AppDocs {
    async fn update(
        &self,
        collection: &str,
        filter: &str,
        update: &str,
        upsert: bool,
        many: bool,
    ) -> Result<UpdateResult, Error> {
        let collection = self.collection(collection)?;
        let (filter, update) = (parse_document(filter, "filter")?, parse_document(update, "update")?);
        self.bounded(async {
            let result = if many {
                collection.update_many(filter, update).upsert(upsert).await
            } else {
                collection.update_one(filter, update).upsert(upsert).await
            }
            .map_err(classify)?;
            Ok(UpdateResult {
                matched: result.matched_count,
                modified: result.modified_count,
                upserted_id: result.upserted_id.map(to_ejson),
            })
        })
        .await
    }
}

impl AppDocs {
    async fn delete(&self, collection: &str, filter: &str, many: bool) -> Result<u64, Error> {
        let collection = self.collection(collection)?;
        let filter = parse_document(filter, "filter")?;
        self.bounded(async {
            let result = if many { collection.delete_many(filter).await } else { collection.delete_one(filter).await };
            Ok(result.map_err(classify)?.deleted_count)
        })
        .await
    }
}

impl RequestState {
    fn docs(&self) -> Result<AppDocs, Error> {
        self.app.docs.clone().ok_or_else(|| Error::Unavailable("docs capability not granted".into()))
    }
}

impl Host for RequestState {
    async fn insert_one(&mut self, collection: String, document: Ejson) -> Result<Ejson, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        let document = parse_document(&document, "document")?;
        docs.bounded(async {
            let result = collection.insert_one(document).await.map_err(classify)?;
            Ok(to_ejson(result.inserted_id))
        })
        .await
    }

    async fn insert_many(&mut self, collection: String, documents: Vec<Ejson>) -> Result<Vec<Ejson>, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let parsed = documents.iter().map(|d| parse_document(d, "document")).collect::<Result<Vec<_>, _>>()?;
        docs.bounded(async {
            let result = collection.insert_many(parsed).await.map_err(classify)?;
            let mut ids: Vec<(usize, Bson)> = result.inserted_ids.into_iter().collect();
            ids.sort_by_key(|(index, _)| *index);
            Ok(ids.into_iter().map(|(_, id)| to_ejson(id)).collect())
        })
        .await
    }

    async fn find(&mut self, collection: String, filter: Ejson, options: FindOptions) -> Result<Vec<Ejson>, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        let filter = parse_document(&filter, "filter")?;
        let cap = options.limit.unwrap_or(docs.max_documents).min(docs.max_documents);
        let mut find = collection.find(filter).limit(i64::from(cap));
        if let Some(sort) = options.sort {
            find = find.sort(parse_document(&sort, "sort")?);
        }
        if let Some(projection) = options.projection {
            find = find.projection(parse_document(&projection, "projection")?);
        }
        if let Some(skip) = options.skip {
            find = find.skip(skip);
        }
        docs.bounded(async {
            let cursor = find.await.map_err(classify)?;
            docs.collect(cursor, cap as usize, false).await
        })
        .await
    }

    async fn find_one(
        &mut self,
        collection: String,
        filter: Ejson,
        projection: Option<Ejson>,
    ) -> Result<Option<Ejson>, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        let filter = parse_document(&filter, "filter")?;
        let mut find = collection.find_one(filter);
        if let Some(projection) = projection {
            find = find.projection(parse_document(&projection, "projection")?);
        }
        docs.bounded(async { Ok(find.await.map_err(classify)?.map(|d| to_ejson(Bson::Document(d)))) }).await
    }

    async fn update_one(
        &mut self,
        collection: String,
        filter: Ejson,
        update: Ejson,
        upsert: bool,
    ) -> Result<UpdateResult, Error> {
        self.docs()?.update(&collection, &filter, &update, upsert, false).await
    }

    async fn update_many(
        &mut self,
        collection: String,
        filter: Ejson,
        update: Ejson,
        upsert: bool,
    ) -> Result<UpdateResult, Error> {
        self.docs()?.update(&collection, &filter, &update, upsert, true).await
    }

    async fn delete_one(&mut self, collection: String, filter: Ejson) -> Result<u64, Error> {
        self.docs()?.delete(&collection, &filter, false).await
    }

    async fn delete_many(&mut self, collection: String, filter: Ejson) -> Result<u64, Error> {
        self.docs()?.delete(&collection, &filter, true).await
    }

    async fn count(&mut self, collection: String, filter: Ejson) -> Result<u64, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        let filter = parse_document(&filter, "filter")?;
        docs.bounded(async { collection.count_documents(filter).await.map_err(classify) }).await
    }

    async fn aggregate(&mut self, collection: String, pipeline: Ejson) -> Result<Vec<Ejson>, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        let stages = match parse_bson(&pipeline, "pipeline")? {
            Bson::Array(stages) => stages
                .into_iter()
                .map(|stage| match stage {
                    Bson::Document(stage) => Ok(stage),
                    _ => Err(invalid("every pipeline stage must be an object")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(invalid("pipeline must be a JSON array of stages")),
        };
        check_pipeline(&stages, docs.database.name())?;
        docs.bounded(async {
            let cursor = collection.aggregate(stages).await.map_err(classify)?;
            docs.collect(cursor, docs.max_documents as usize, true).await
        })
        .await
    }

    async fn create_index(&mut self, collection: String, keys: Ejson, options: IndexOptions) -> Result<String, Error> {
        let docs = self.docs()?;
        let collection = docs.collection(&collection)?;
        let keys = parse_document(&keys, "keys")?;
        let index_options = mongodb::options::IndexOptions::builder()
            .name(options.name)
            .unique(options.unique.then_some(true))
            .expire_after(options.expire_after_seconds.map(|s| Duration::from_secs(u64::from(s))))
            .build();
        let model = IndexModel::builder().keys(keys).options(index_options).build();
        docs.bounded(async { Ok(collection.create_index(model).await.map_err(classify)?.index_name) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn extended_json_round_trips() {
        let text = r#"{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"at":{"$date":"2026-01-02T03:04:05Z"},"n":{"$numberLong":"9007199254740993"}}"#;
        let document = parse_document(text, "document").unwrap();
        assert!(matches!(document.get("n"), Some(Bson::Int64(9_007_199_254_740_993))));
        let back: serde_json::Value = serde_json::from_str(&to_ejson(Bson::Document(document))).unwrap();
        assert_eq!(back["_id"]["$oid"], "65a1b2c3d4e5f60718293a4b");
        // Relaxed output: int64 as a plain (exact) number.
        assert_eq!(back["n"].as_i64(), Some(9_007_199_254_740_993));
    }

    #[test]
    fn refuses_bad_input() {
        assert!(parse_document("[1]", "filter").is_err());
        assert!(parse_document("{", "filter").is_err());
        assert!(collection_name("system.users").is_err());
        assert!(collection_name("a$b").is_err());
        assert!(collection_name("events").is_ok());
    }

    #[test]
    fn out_and_merge_stay_in_the_apps_database() {
        let own = "budget_ledger";
        assert!(check_pipeline(&[doc! {"$out": "copy"}], own).is_ok());
        assert!(check_pipeline(&[doc! {"$out": {"db": "budget_ledger", "coll": "c"}}], own).is_ok());
        assert!(check_pipeline(&[doc! {"$out": {"db": "budget_other", "coll": "c"}}], own).is_err());
        assert!(check_pipeline(&[doc! {"$merge": {"into": {"db": "admin", "coll": "x"}}}], own).is_err());
    }
}
