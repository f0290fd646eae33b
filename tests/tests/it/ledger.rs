//! The ledger component behind host-verified API tokens, on a real
//! PostgreSQL: identity and scoping (another user's budget is a 404),
//! money in three exponents, validation envelopes, idempotent POSTs and
//! keyset pagination.

use budget_host_tests::{HostBuilder, HostProcess, OwnedMongo, TestDatabase, component, expect_error, repo_root};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ADMIN: &str = "ledger-admin-token-0123456789";

/// A host serving the ledger on `db` and a MongoDB of its own (kept alive
/// by the returned handle), with short docs timeouts for the outage test.
async fn host(db: &TestDatabase) -> (HostProcess, OwnedMongo) {
    host_with(db, OwnedMongo::start()).await
}

async fn host_with(db: &TestDatabase, mongo: OwnedMongo) -> (HostProcess, OwnedMongo) {
    host_migrated(db, mongo, &repo_root().join("components/ledger/migrations")).await
}

/// As [`host_with`], applying the migrations in `migrations`.
async fn host_migrated(
    db: &TestDatabase,
    mongo: OwnedMongo,
    migrations: &std::path::Path,
) -> (HostProcess, OwnedMongo) {
    let apps = format!(
        "[apps.ledger]\nroutes = [\"/v1/budgets\"]\ncomponent = \"{}\"\ncapabilities = [\"sql\", \"docs\", \"cache\"]\n\
         auth = \"user\"\nmigrations = \"{}\"\n",
        component("ledger").display(),
        migrations.display()
    );
    let host = HostBuilder::new(apps)
        .arg("--database-url")
        .arg(db.url.clone())
        .arg("--sql-role-prefix")
        .arg(db.role_prefix.clone())
        .arg("--mongodb-url")
        .arg(mongo.url())
        .arg("--docs-timeout-ms")
        .arg("1000")
        .arg("--admin-token")
        .arg(ADMIN)
        .start()
        .await;
    (host, mongo)
}

/// A new API user; returns (user id, token).
async fn user(host: &HostProcess, name: &str) -> (String, String) {
    let created = host
        .client
        .post(host.url("/admin/v1/users"))
        .bearer_auth(ADMIN)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("create user");
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let issued = host
        .client
        .post(host.url(&format!("/admin/v1/users/{id}/tokens")))
        .bearer_auth(ADMIN)
        .json(&json!({ "label": "test" }))
        .send()
        .await
        .expect("issue token");
    assert_eq!(issued.status(), 201);
    let token = issued.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("bgt_"));
    (id, token)
}

async fn post(host: &HostProcess, token: &str, path: &str, body: Value) -> reqwest::Response {
    host.client.post(host.url(path)).bearer_auth(token).json(&body).send().await.expect("post")
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

async fn get(host: &HostProcess, token: &str, path: &str) -> reqwest::Response {
    host.client.get(host.url(path)).bearer_auth(token).send().await.expect("get")
}

#[tokio::test]
async fn tokens_identify_users_and_budgets_stay_private() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (alice_id, alice) = user(&host, "alice").await;
    let (_, bob) = user(&host, "bob").await;

    expect_error(host.client.get(host.url("/v1/budgets")).send().await.expect("send"), 401, "unauthorized").await;
    expect_error(get(&host, "bgt_not-a-real-token", "/v1/budgets").await, 401, "invalid_token").await;
    // A client cannot name itself: the host removes x-budget-user.
    let forged = host.client.get(host.url("/v1/budgets")).header("x-budget-user", &alice_id).send().await;
    expect_error(forged.expect("send"), 401, "unauthorized").await;

    let budget = created(post(&host, &alice, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let id = budget["id"].as_str().expect("id");
    assert_eq!((budget["exponent"].as_i64(), budget["time_zone"].as_str()), (Some(2), Some("UTC")));

    let mine: Value = get(&host, &alice, "/v1/budgets").await.json().await.expect("json");
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
    let theirs: Value = get(&host, &bob, "/v1/budgets").await.json().await.expect("json");
    assert_eq!(theirs["items"], json!([]));
    expect_error(get(&host, &bob, &format!("/v1/budgets/{id}")).await, 404, "not_found").await;
    let path = format!("/v1/budgets/{id}/accounts");
    expect_error(post(&host, &bob, &path, json!({"name": "Mine now", "type": "cash"})).await, 404, "not_found").await;
    let accounts: Value = get(&host, &alice, &path).await.json().await.expect("json");
    assert_eq!(accounts["items"], json!([]), "bob's attempt left nothing behind");

    // A token revoked before its first use is refused.
    let (_, carol) = user(&host, "carol").await;
    let carol_token: (String,) = sqlx::query_as(
        "SELECT t.id::text FROM budget_host.api_tokens t JOIN budget_host.api_users u ON u.id = t.user_id
          WHERE u.name = 'carol'",
    )
    .fetch_one(&mut db.connect().await)
    .await
    .expect("carol's token id");
    let revoked = host
        .client
        .delete(host.url(&format!("/admin/v1/tokens/{}", carol_token.0)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    expect_error(get(&host, &carol, "/v1/budgets").await, 401, "invalid_token").await;
    let stored: (i64,) =
        sqlx::query_as("SELECT count(*) FROM budget_host.api_tokens WHERE digest = sha256(convert_to($1, 'UTF8'))")
            .bind(&alice)
            .fetch_one(&mut db.connect().await)
            .await
            .expect("count");
    assert_eq!(stored.0, 1, "tokens are stored as their sha256 digest");
    let plain: (i64,) = sqlx::query_as(
        "SELECT count(*) FROM budget_host.api_tokens WHERE position(convert_to($1, 'UTF8') in digest) > 0",
    )
    .bind(&alice)
    .fetch_one(&mut db.connect().await)
    .await
    .expect("count");
    assert_eq!(plain.0, 0, "never in plain text");
}

#[tokio::test]
async fn money_follows_each_currencys_exponent_and_bad_input_is_explained() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "dana").await;

    for (currency, opening, expected_minor, expected_text) in
        [("JPY", "1500", 1500, "1500"), ("EUR", "1500.5", 150050, "1500.50"), ("BHD", "1.234", 1234, "1.234")]
    {
        let budget =
            created(post(&host, &token, "/v1/budgets", json!({"name": currency, "currency": currency})).await).await;
        let accounts = format!("/v1/budgets/{}/accounts", budget["id"].as_str().expect("id"));
        let account = created(
            post(&host, &token, &accounts, json!({"name": "Wallet", "type": "cash", "opening_balance": opening})).await,
        )
        .await;
        assert_eq!(account["balance"], json!({"amount": expected_text, "minor_units": expected_minor}), "{currency}");
        assert_eq!(account["cleared_balance"]["minor_units"], expected_minor);
    }

    let yen = created(post(&host, &token, "/v1/budgets", json!({"name": "Yen", "currency": "JPY"})).await).await;
    let accounts = format!("/v1/budgets/{}/accounts", yen["id"].as_str().expect("id"));
    let refused = post(&host, &token, &accounts, json!({"name": "", "type": "vault", "opening_balance": "12.5"})).await;
    let body = expect_error(refused, 422, "validation_failed").await;
    let fields: BTreeSet<&str> =
        body["error"]["fields"].as_array().expect("fields").iter().filter_map(|f| f["field"].as_str()).collect();
    assert_eq!(fields, BTreeSet::from(["name", "type", "opening_balance"]));

    let bad_currency = post(&host, &token, "/v1/budgets", json!({"name": "X", "currency": "EURO"})).await;
    expect_error(bad_currency, 422, "validation_failed").await;
    let bad_zone =
        post(&host, &token, "/v1/budgets", json!({"name": "X", "currency": "EUR", "time_zone": "Mars/Base"}));
    expect_error(bad_zone.await, 422, "validation_failed").await;
    let unknown_field = post(&host, &token, "/v1/budgets", json!({"name": "X", "currency": "EUR", "colour": "red"}));
    expect_error(unknown_field.await, 400, "invalid_json").await;
    let malformed = host.client.post(host.url("/v1/budgets")).bearer_auth(&token).body("{\"name\":").send().await;
    expect_error(malformed.expect("send"), 400, "invalid_json").await;
    let budgets: Value = get(&host, &token, "/v1/budgets").await.json().await.expect("json");
    assert_eq!(budgets["items"].as_array().map(Vec::len), Some(4), "refusals created nothing");
}

#[tokio::test]
async fn posts_are_idempotent_and_pages_follow_keys() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "erin").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "B", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let account = created(
        post(&host, &token, &format!("{base}/accounts"), json!({"name": "Checking", "type": "checking"})).await,
    )
    .await;
    let account_id = account["id"].as_str().expect("id").to_string();
    let transactions = format!("{base}/transactions");

    let send =
        |key: &'static str, amount: &'static str| {
            let request =
                host.client.post(host.url(&transactions)).bearer_auth(&token).header("idempotency-key", key).json(
                    &json!({"account_id": account_id, "date": "2026-11-02", "amount": amount, "payee": "Grocer"}),
                );
            async move { request.send().await.expect("post") }
        };
    let first = send("groceries-1", "-42.10").await;
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.expect("json");
    let replay = send("groceries-1", "-42.10").await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(replay.json::<Value>().await.expect("json"), first_body, "a replay returns the first answer");
    expect_error(send("groceries-1", "-42.11").await, 422, "idempotency_key_reused").await;
    let bad_amount = send("groceries-2", "-42,10").await;
    let body = expect_error(bad_amount, 422, "validation_failed").await;
    assert_eq!(body["error"]["fields"][0]["field"], "amount");
    let too_precise = send("groceries-3", "-42.105").await;
    expect_error(too_precise, 422, "validation_failed").await;

    for day in 1..=24 {
        let body =
            json!({"account_id": account_id, "date": format!("2026-10-{day:02}"), "amount": format!("{day}.00")});
        created(post(&host, &token, &transactions, body).await).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{transactions}?limit=10&cursor={c}"),
            None => format!("{transactions}?limit=10"),
        };
        let page: Value = get(&host, &token, &path).await.json().await.expect("json");
        pages += 1;
        seen.extend(
            page["items"].as_array().expect("items").iter().map(|t| t["date"].as_str().unwrap_or("").to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (3, 25), "24 October days and the one November grocery, once each");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages are in date order");

    let filtered: Value = get(&host, &token, &format!("{transactions}?since_date=2026-10-20&until_date=2026-10-22"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(3));
    let spaced = json!({"account_id": account_id, "date": "2026-10-30", "amount": "-1", "payee": "Corner Shop"});
    created(post(&host, &token, &transactions, spaced).await).await;
    for query in ["Corner%20Shop", "Corner+Shop"] {
        let found: Value =
            get(&host, &token, &format!("{transactions}?payee={query}")).await.json().await.expect("json");
        assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "payee={query}");
    }
    let impossible = json!({"account_id": account_id, "date": "2026-02-30", "amount": "-1"});
    let refused = expect_error(post(&host, &token, &transactions, impossible).await, 422, "validation_failed").await;
    assert_eq!(refused["error"]["fields"][0]["field"], "date");
    let by_payee: Value = get(&host, &token, &format!("{transactions}?payee=Grocer")).await.json().await.expect("json");
    assert_eq!(by_payee["items"].as_array().map(Vec::len), Some(1));
    expect_error(get(&host, &token, &format!("{transactions}?limit=5000")).await, 422, "validation_failed").await;
    expect_error(get(&host, &token, &format!("{transactions}?cursor=garbage")).await, 422, "validation_failed").await;

    let accounts: Value = get(&host, &token, &format!("{base}/accounts")).await.json().await.expect("json");
    // 1 + 2 + … + 24 = 300.00 in; 42.10 and 1.00 out.
    assert_eq!(accounts["items"][0]["balance"], json!({"amount": "256.90", "minor_units": 25690}));
}

async fn patch(host: &HostProcess, token: &str, path: &str, body: Value) -> Value {
    let response = send_patch(host, token, path, body).await;
    let status = response.status();
    let value: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{value}");
    value
}

/// The figures of one category in a month view, in minor units:
/// (assigned, activity, available).
fn figures(view: &Value, name: &str) -> (i64, i64, i64) {
    let category = view["categories"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no category {name} in {view}"));
    let minor = |field: &str| category[field]["minor_units"].as_i64().expect("minor units");
    (minor("assigned"), minor("activity"), minor("available"))
}

fn minor(view: &Value, field: &str) -> i64 {
    view[field]["minor_units"].as_i64().unwrap_or_else(|| panic!("no {field} in {view}"))
}

#[tokio::test]
async fn months_assign_roll_over_and_move_money() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "frank").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let categories: Value = get(&host, &token, &format!("{base}/categories")).await.json().await.expect("json");
    let income = categories["items"][0]["id"].as_str().expect("the income category").to_string();
    assert_eq!(categories["items"][0]["is_income"], true);

    let checking = created(
        post(
            &host,
            &token,
            &format!("{base}/accounts"),
            json!({"name": "Checking", "type": "checking", "opening_balance": "1000.00", "opening_date": "2026-10-01"}),
        )
        .await,
    )
    .await;
    let account = checking["id"].as_str().expect("id").to_string();
    let group =
        created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Everyday"})).await).await;
    let group = group["id"].as_str().expect("id").to_string();
    let mut ids = std::collections::HashMap::new();
    for (name, carryover) in [("Groceries", false), ("Rent", false), ("Debt", true)] {
        let body = json!({"group_id": group, "name": name, "carryover": carryover});
        let category = created(post(&host, &token, &format!("{base}/categories"), body).await).await;
        ids.insert(name, category["id"].as_str().expect("id").to_string());
    }

    for (name, amount) in [("Groceries", "200.00"), ("Rent", "500.00"), ("Debt", "50.00")] {
        patch(&host, &token, &format!("{base}/months/2026-10/categories/{}", ids[name]), json!({"assigned": amount}))
            .await;
    }
    let spend = |date: &str, amount: &str, category: Option<&str>| json!({"account_id": account, "date": date, "amount": amount, "category_id": category});
    let transactions = format!("{base}/transactions");
    for (amount, name) in [("-230.00", "Groceries"), ("-500.00", "Rent"), ("-80.00", "Debt")] {
        created(post(&host, &token, &transactions, spend("2026-10-15", amount, Some(&ids[name]))).await).await;
    }

    // October, by hand: income 1000, assigned 750, activity −810;
    // Groceries 200 − 230 = −30, Rent 0, Debt 50 − 80 = −30; to be budgeted 1000 − 750 = 250.
    let october: Value = get(&host, &token, &format!("{base}/months/2026-10")).await.json().await.expect("json");
    assert_eq!(
        (minor(&october, "income"), minor(&october, "assigned"), minor(&october, "activity")),
        (100_000, 75_000, -81_000)
    );
    assert_eq!(figures(&october, "Groceries"), (20_000, -23_000, -3_000));
    assert_eq!(figures(&october, "Rent"), (50_000, -50_000, 0));
    assert_eq!(figures(&october, "Debt"), (5_000, -8_000, -3_000));
    assert_eq!(minor(&october, "to_be_budgeted"), 25_000);
    // The summary is cached until the budget next changes.
    let cache_state = |response: &reqwest::Response| {
        response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    let october_path = format!("{base}/months/2026-10");
    let cached = get(&host, &token, &october_path).await;
    assert_eq!(cache_state(&cached), "hit");
    assert_eq!(cached.json::<Value>().await.expect("json"), october);
    patch(&host, &token, &format!("{base}/months/2026-10/categories/{}", ids["Rent"]), json!({"assigned": "510"}))
        .await;
    let fresh = get(&host, &token, &october_path).await;
    assert_eq!(cache_state(&fresh), "miss", "a write invalidates the cached summary");
    assert_eq!(minor(&fresh.json::<Value>().await.expect("json"), "to_be_budgeted"), 24_000);
    patch(&host, &token, &format!("{base}/months/2026-10/categories/{}", ids["Rent"]), json!({"assigned": "500"}))
        .await;

    // November: 2000 of income, a 5.00 purchase left uncategorized.
    created(post(&host, &token, &transactions, spend("2026-11-01", "2000", Some(&income))).await).await;
    created(post(&host, &token, &transactions, spend("2026-11-03", "-5", None)).await).await;
    let november: Value = get(&host, &token, &format!("{base}/months/2026-11")).await.json().await.expect("json");
    // Groceries' −30 does not carry (it comes out of to be budgeted); Debt's does.
    assert_eq!(figures(&november, "Groceries"), (0, 0, 0));
    assert_eq!(figures(&november, "Debt"), (0, 0, -3_000));
    assert_eq!(minor(&november, "overspent_last_month"), 3_000);
    assert_eq!(minor(&november, "to_be_budgeted"), 300_000 - 75_000 - 3_000);
    assert_eq!(minor(&november, "uncategorized_activity"), -500);

    // Move 100 from to be budgeted to Groceries, then 30 from Groceries to Debt.
    let moves = format!("{base}/months/2026-11/moves");
    let moved =
        created(post(&host, &token, &moves, json!({"to_category_id": ids["Groceries"], "amount": "100"})).await).await;
    assert_eq!(figures(&moved, "Groceries"), (10_000, 0, 10_000));
    assert_eq!(minor(&moved, "to_be_budgeted"), 222_000 - 10_000);
    let body = json!({"from_category_id": ids["Groceries"], "to_category_id": ids["Debt"], "amount": "30.00"});
    let moved = created(post(&host, &token, &moves, body).await).await;
    assert_eq!(figures(&moved, "Groceries"), (7_000, 0, 7_000));
    assert_eq!(figures(&moved, "Debt"), (3_000, 0, 0));
    assert_eq!(minor(&moved, "to_be_budgeted"), 212_000, "moving between categories leaves it alone");

    // Refusals.
    let bad_month = host.client.get(host.url(&format!("{base}/months/2026-13"))).bearer_auth(&token).send().await;
    expect_error(bad_month.expect("send"), 422, "validation_failed").await;
    let to_income =
        send_patch(&host, &token, &format!("{base}/months/2026-11/categories/{income}"), json!({"assigned": "10"}))
            .await;
    expect_error(to_income, 422, "validation_failed").await;
    let nothing = post(&host, &token, &moves, json!({"amount": "1"})).await;
    expect_error(nothing, 422, "validation_failed").await;
    let negative = post(&host, &token, &moves, json!({"to_category_id": ids["Rent"], "amount": "-1"})).await;
    expect_error(negative, 422, "validation_failed").await;
    let (_, other) = user(&host, "grace").await;
    expect_error(get(&host, &other, &format!("{base}/months/2026-11")).await, 404, "not_found").await;
}

#[tokio::test]
async fn splits_and_transfers_count_where_they_belong() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "heidi").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let accounts_path = format!("{base}/accounts");
    let account = |name: &str, kind: &str, on_budget: bool, opening: &str| {
        let body = json!({"name": name, "type": kind, "on_budget": on_budget, "opening_balance": opening,
                          "opening_date": "2026-10-01"});
        post(&host, &token, &accounts_path, body)
    };
    let checking =
        created(account("Checking", "checking", true, "1000").await).await["id"].as_str().expect("id").to_string();
    let savings = created(account("Savings", "savings", true, "0").await).await["id"].as_str().expect("id").to_string();
    let brokerage =
        created(account("Brokerage", "savings", false, "0").await).await["id"].as_str().expect("id").to_string();
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Bills"})).await).await;
    let mut ids = std::collections::HashMap::new();
    for name in ["Groceries", "Household"] {
        let body = json!({"group_id": group["id"], "name": name});
        ids.insert(name, created(post(&host, &token, &format!("{base}/categories"), body).await).await["id"].clone());
    }

    let transactions = format!("{base}/transactions");
    let split =
        |lines: Value| json!({"account_id": checking, "date": "2026-10-05", "amount": "-100.00", "splits": lines});
    let good = split(json!([{"amount": "-60.00", "category_id": ids["Groceries"]},
                            {"amount": "-40.00", "category_id": ids["Household"], "memo": "soap"}]));
    let stored = created(post(&host, &token, &transactions, good).await).await;
    assert_eq!(stored["splits"].as_array().map(Vec::len), Some(2));
    let household = ids["Household"].as_str().expect("id");
    let filtered: Value =
        get(&host, &token, &format!("{transactions}?category_id={household}")).await.json().await.expect("json");
    assert_eq!(filtered["items"][0]["id"], stored["id"], "a split is found by its lines' categories");
    assert_eq!(stored["splits"][1]["amount"]["minor_units"], -4_000);
    assert_eq!(stored["splits"][1]["memo"], "soap");
    let off_by_a_cent = split(json!([{"amount": "-60.00"}, {"amount": "-39.99"}]));
    let refused = expect_error(post(&host, &token, &transactions, off_by_a_cent).await, 422, "validation_failed").await;
    assert!(refused["error"]["fields"][0]["message"].as_str().is_some_and(|m| m.contains("-0.01")), "{refused}");
    expect_error(
        post(&host, &token, &transactions, split(json!([{"amount": "-100.00"}]))).await,
        422,
        "validation_failed",
    )
    .await;

    let transfers = format!("{base}/transfers");
    let move_to = |to: &str, amount: &str, category: Option<&Value>| {
        post(
            &host,
            &token,
            &transfers,
            json!({"from_account_id": checking, "to_account_id": to, "date": "2026-10-10", "amount": amount,
                    "category_id": category}),
        )
    };
    created(move_to(&savings, "200", None).await).await;
    let categorised_inside = move_to(&savings, "1", Some(&ids["Household"])).await;
    expect_error(categorised_inside, 422, "validation_failed").await;
    expect_error(move_to(&brokerage, "300", None).await, 422, "validation_failed").await;
    expect_error(move_to(&checking, "5", None).await, 422, "validation_failed").await;
    expect_error(move_to(&savings, "-5", None).await, 422, "validation_failed").await;
    created(move_to(&brokerage, "300", Some(&ids["Household"])).await).await;
    let listed: Value = get(&host, &token, &transfers).await.json().await.expect("json");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2), "one row per transfer");

    let accounts: Value = get(&host, &token, &format!("{base}/accounts")).await.json().await.expect("json");
    let balance = |name: &str| {
        accounts["items"].as_array().and_then(|a| a.iter().find(|x| x["name"] == name)).expect("account")["balance"]
            ["minor_units"]
            .as_i64()
            .expect("minor")
    };
    assert_eq!((balance("Checking"), balance("Savings"), balance("Brokerage")), (40_000, 20_000, 30_000));

    // October: income 1000; Groceries −60 from the split; Household −40 + −300
    // leaving for the brokerage; the savings transfer is neither.
    let october: Value = get(&host, &token, &format!("{base}/months/2026-10")).await.json().await.expect("json");
    assert_eq!(figures(&october, "Groceries"), (0, -6_000, -6_000));
    assert_eq!(figures(&october, "Household"), (0, -34_000, -34_000));
    assert_eq!((minor(&october, "income"), minor(&october, "activity")), (100_000, -40_000));
    assert_eq!(minor(&october, "to_be_budgeted"), 100_000);
    // On-budget cash (Checking 400 + Savings 200) = to be budgeted + available.
    assert_eq!(minor(&october, "to_be_budgeted") - 6_000 - 34_000, 40_000 + 20_000);
}

async fn outbox_len(db: &TestDatabase) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT count(*) FROM app_ledger.audit_outbox")
        .fetch_one(&mut db.connect().await)
        .await
        .expect("count the outbox");
    row.0
}

async fn audit(host: &HostProcess, token: &str, base: &str) -> Vec<Value> {
    let page: Value = get(host, token, &format!("{base}/audit")).await.json().await.expect("json");
    page["items"].as_array().cloned().unwrap_or_else(|| panic!("no items in {page}"))
}

#[tokio::test]
async fn audit_events_wait_in_the_outbox_while_mongodb_is_down() {
    let db = TestDatabase::create().await;
    let (host, mut mongo) = host_with(&db, OwnedMongo::start_on_disk()).await;
    let (user_id, token) = user(&host, "ivan").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let events = audit(&host, &token, &base).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0]["entity"].as_str(), events[0]["action"].as_str()), (Some("budget"), Some("create")));
    assert_eq!(events[0]["actor"], user_id.as_str());
    assert_eq!(events[0]["after"]["name"], "Home");
    assert_eq!(outbox_len(&db).await, 0, "relayed at once");

    mongo.stop();
    let account = created(
        post(&host, &token, &format!("{base}/accounts"), json!({"name": "Checking", "type": "checking"})).await,
    )
    .await;
    let transactions = format!("{base}/transactions");
    for (i, amount) in ["-1.00", "-2.00", "-3.00"].iter().enumerate() {
        let response = host
            .client
            .post(host.url(&transactions))
            .bearer_auth(&token)
            .header("idempotency-key", format!("outage-{i}"))
            .json(&json!({"account_id": account["id"], "date": "2026-11-20", "amount": amount}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 201, "writes go on while MongoDB is down");
    }
    assert_eq!(outbox_len(&db).await, 4, "every change left its event in the outbox");
    expect_error(get(&host, &token, &format!("{base}/audit")).await, 503, "audit_unavailable").await;

    mongo.restart();
    // The next write relays the backlog along with its own event.
    created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Bills"})).await).await;
    assert_eq!(outbox_len(&db).await, 0);
    let events = audit(&host, &token, &base).await;
    let mut entities: Vec<&str> = events.iter().filter_map(|e| e["entity"].as_str()).collect();
    entities.sort_unstable();
    assert_eq!(entities, ["account", "budget", "category_group", "transaction", "transaction", "transaction"]);
    let keys: BTreeSet<&str> = events.iter().filter_map(|e| e["idempotency_key"].as_str()).collect();
    assert_eq!(keys, BTreeSet::from(["outage-0", "outage-1", "outage-2"]));
    assert!(events.iter().all(|e| e["request_id"].as_str().is_some_and(|r| !r.is_empty())));

    // An update records what it replaced.
    let categories: Value = get(&host, &token, &format!("{base}/categories")).await.json().await.expect("json");
    let group = events.iter().find(|e| e["entity"] == "category_group").expect("group event")["after"]["id"].clone();
    let food =
        created(post(&host, &token, &format!("{base}/categories"), json!({"group_id": group, "name": "Food"})).await)
            .await;
    assert_eq!(categories["items"].as_array().map(Vec::len), Some(1));
    let path = format!("{base}/months/2026-11/categories/{}", food["id"].as_str().expect("id"));
    patch(&host, &token, &path, json!({"assigned": "50"})).await;
    patch(&host, &token, &path, json!({"assigned": "75"})).await;
    let events = audit(&host, &token, &base).await;
    let updates: Vec<&Value> = events.iter().filter(|e| e["entity"] == "assignment").collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0]["before"]["assigned"]["minor_units"], 5_000, "newest first: 50 → 75");
    assert_eq!(updates[0]["action"], "update");
}

#[tokio::test]
async fn csv_import_previews_adds_and_flags_duplicates() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "judy").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "EU", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let account =
        created(post(&host, &token, &format!("{base}/accounts"), json!({"name": "Giro", "type": "checking"})).await)
            .await;
    // A German bank: day first, comma decimals, dots between thousands,
    // semicolons, separate debit and credit columns.
    let mapping = json!({"date_column": "Buchung", "payee_column": "Empfänger", "outflow_column": "Soll",
        "inflow_column": "Haben", "date_format": "DD.MM.YYYY", "decimal_separator": ",",
        "thousands_separator": ".", "delimiter": ";"});
    let statement = "Buchung;Empfänger;Soll;Haben\n01.11.2026;Arbeitgeber;;2.500,00\n03.11.2026;\"Markt; Filiale 3\";42,10;\n03.11.2026;Markt;42,10;\n31.11.2026;Kaputt;1,00;\n";
    let imports = format!("{base}/imports");
    let request = |csv: &str, dry_run: bool| json!({"account_id": account["id"], "csv": csv, "mapping": mapping, "dry_run": dry_run});
    let preview = post(&host, &token, &imports, request(statement, true)).await;
    assert_eq!(preview.status(), 200);
    let preview: Value = preview.json().await.expect("json");
    assert_eq!(
        (preview["added"].as_i64(), preview["duplicates"].as_i64(), preview["errors"].as_i64()),
        (Some(3), Some(0), Some(1))
    );
    assert_eq!(preview["rows"][1]["payee"], "Markt; Filiale 3");
    assert_eq!(preview["rows"][0]["amount"]["minor_units"], 250_000);
    assert_eq!(preview["rows"][1]["amount"]["minor_units"], -4_210);
    assert_eq!(preview["rows"][3]["status"], "error", "31 November does not exist");
    assert_eq!(preview["rows"][3]["line"], 5);
    let listed: Value = get(&host, &token, &format!("{base}/transactions")).await.json().await.expect("json");
    assert_eq!(listed["items"], json!([]), "a dry run writes nothing");

    let first = created(post(&host, &token, &imports, request(statement, false)).await).await;
    assert_eq!((first["added"].as_i64(), first["duplicates"].as_i64()), (Some(3), Some(0)));
    // The next statement overlaps by one row (the second 42,10 on the 3rd is
    // a different purchase, so only one of the two repeats).
    let next = "Buchung;Empfänger;Soll;Haben\n03.11.2026;Markt;42,10;\n04.11.2026;Bäcker;3,20;\n";
    let second = created(post(&host, &token, &imports, request(next, false)).await).await;
    assert_eq!((second["added"].as_i64(), second["duplicates"].as_i64()), (Some(1), Some(1)));
    assert_eq!(second["rows"][0]["status"], "duplicate");
    let listed: Value = get(&host, &token, &format!("{base}/transactions")).await.json().await.expect("json");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(4));
    let accounts: Value = get(&host, &token, &format!("{base}/accounts")).await.json().await.expect("json");
    assert_eq!(accounts["items"][0]["balance"]["minor_units"], 250_000 - 4_210 - 4_210 - 320);

    let bad_mapping = json!({"account_id": account["id"], "csv": statement,
        "mapping": {"date_column": "Nope", "amount_column": "Soll", "outflow_column": "Soll", "date_format": "YY",
                    "delimiter": ";"}});
    let refused = expect_error(post(&host, &token, &imports, bad_mapping).await, 422, "validation_failed").await;
    let fields: BTreeSet<&str> =
        refused["error"]["fields"].as_array().expect("fields").iter().filter_map(|f| f["field"].as_str()).collect();
    let expected = BTreeSet::from(["mapping.date_format", "mapping.amount_column", "mapping.date_column"]);
    assert_eq!(fields, expected, "{refused}");
    let unclosed = json!({"account_id": account["id"], "csv": "a,b\n\"x,1\n", "mapping": {"date_column": "a", "amount_column": "b"}});
    expect_error(post(&host, &token, &imports, unclosed).await, 422, "validation_failed").await;
}

#[tokio::test]
async fn reports_add_up_spending_income_and_net_worth() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "karl").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let accounts_path = format!("{base}/accounts");
    let open = |name: &str, kind: &str, on_budget: bool, opening: &str, date: &str| {
        let body = json!({"name": name, "type": kind, "on_budget": on_budget, "opening_balance": opening,
                          "opening_date": date});
        post(&host, &token, &accounts_path, body)
    };
    let checking = created(open("Checking", "checking", true, "1000", "2026-10-01").await).await["id"].clone();
    let brokerage = created(open("Brokerage", "savings", false, "0", "2026-10-01").await).await["id"].clone();
    created(open("Card", "credit_card", true, "-200", "2026-11-01").await).await;
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Life"})).await).await;
    let mut ids = std::collections::HashMap::new();
    for name in ["Groceries", "Household"] {
        let body = json!({"group_id": group["id"], "name": name});
        ids.insert(name, created(post(&host, &token, &format!("{base}/categories"), body).await).await["id"].clone());
    }
    let income = get(&host, &token, &format!("{base}/categories")).await.json::<Value>().await.expect("json")["items"]
        [0]["id"]
        .clone();
    let transactions = format!("{base}/transactions");
    let add = |body: Value| post(&host, &token, &transactions, body);
    created(
        add(json!({"account_id": checking, "date": "2026-10-05", "amount": "-100", "splits": [
        {"amount": "-60", "category_id": ids["Groceries"]}, {"amount": "-40", "category_id": ids["Household"]}]}))
        .await,
    )
    .await;
    created(add(json!({"account_id": checking, "date": "2026-10-06", "amount": "-5"})).await).await;
    created(add(json!({"account_id": checking, "date": "2026-11-01", "amount": "2000", "category_id": income})).await)
        .await;
    created(
        add(json!({"account_id": checking, "date": "2026-11-09", "amount": "-50", "category_id": ids["Groceries"]}))
            .await,
    )
    .await;
    let transfer = json!({"from_account_id": checking, "to_account_id": brokerage, "date": "2026-10-20",
                          "amount": "300", "category_id": ids["Household"]});
    created(post(&host, &token, &format!("{base}/transfers"), transfer).await).await;

    let report = |name: &str| {
        let path = format!("{base}/reports/{name}?from=2026-10&to=2026-11");
        let request = host.client.get(host.url(&path)).bearer_auth(&token);
        async move { request.send().await.expect("report").json::<Value>().await.expect("json")["items"].clone() }
    };
    let spending: Vec<(String, String, i64)> = report("spending")
        .await
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let month = i["month"].as_str().unwrap_or_default().to_string();
            let category = i["category_name"].as_str().unwrap_or_default().to_string();
            (month, category, i["spent"]["minor_units"].as_i64().unwrap_or(0))
        })
        .collect();
    let expected = [
        ("2026-10", "Groceries", 6_000),
        ("2026-10", "Household", 34_000),
        ("2026-10", "uncategorized", 500),
        ("2026-11", "Groceries", 5_000),
    ];
    assert_eq!(spending, expected.map(|(m, c, a)| (m.to_string(), c.to_string(), a)).to_vec());

    let flows = report("income-expense").await;
    let minor = |v: &Value, field: &str| v[field]["minor_units"].as_i64().expect("minor");
    // October: 1000 in (opening), 405 out. November: 2000 − 200 (the card's
    // opening debt) in, 50 out.
    assert_eq!(
        (minor(&flows[0], "income"), minor(&flows[0], "expense"), minor(&flows[0], "net")),
        (100_000, 40_500, 59_500)
    );
    assert_eq!((minor(&flows[1], "income"), minor(&flows[1], "expense")), (180_000, 5_000));

    let worth = report("net-worth").await;
    // End of October: Checking 595 + Brokerage 300. End of November:
    // Checking 2545 + Brokerage 300, Card −200.
    assert_eq!((minor(&worth[0], "assets"), minor(&worth[0], "liabilities")), (89_500, 0));
    assert_eq!(
        (minor(&worth[1], "assets"), minor(&worth[1], "liabilities"), minor(&worth[1], "net_worth")),
        (284_500, 20_000, 264_500)
    );

    let backwards = get(&host, &token, &format!("{base}/reports/net-worth?from=2026-11&to=2026-10")).await;
    expect_error(backwards, 422, "validation_failed").await;
    let missing = get(&host, &token, &format!("{base}/reports/spending")).await;
    let body = expect_error(missing, 422, "validation_failed").await;
    assert_eq!(body["error"]["fields"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn delta_sync_returns_changes_and_deletions_since_a_knowledge_value() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "lena").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let account =
        created(post(&host, &token, &format!("{base}/accounts"), json!({"name": "Cash", "type": "cash"})).await).await;
    let transactions = format!("{base}/transactions");
    let mut ids = Vec::new();
    for amount in ["-1", "-2", "-3"] {
        let body = json!({"account_id": account["id"], "date": "2026-11-10", "amount": amount});
        ids.push(created(post(&host, &token, &transactions, body).await).await["id"].as_str().expect("id").to_string());
    }
    let sync = |since: i64, limit: u32| {
        let request =
            host.client.get(host.url(&format!("{transactions}?since={since}&limit={limit}"))).bearer_auth(&token);
        async move {
            let response = request.send().await.expect("sync");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("json")
        }
    };
    let first = sync(0, 100).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let known = first["knowledge"].as_i64().expect("knowledge");

    let item = |id: &str| format!("{transactions}/{id}");
    let changed = send_patch(&host, &token, &item(&ids[0]), json!({"memo": "coffee"})).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.expect("json")["memo"], "coffee");
    let deleted = host.client.delete(host.url(&item(&ids[1]))).bearer_auth(&token).send().await.expect("delete");
    assert_eq!(deleted.status(), 204);
    let again = host.client.delete(host.url(&item(&ids[1]))).bearer_auth(&token).send().await.expect("delete");
    expect_error(again, 404, "not_found").await;
    let body = json!({"account_id": account["id"], "date": "2026-11-11", "amount": "-4"});
    let fourth = created(post(&host, &token, &transactions, body).await).await["id"].as_str().expect("id").to_string();

    let delta = sync(known, 100).await;
    let changed_ids: Vec<&str> =
        delta["items"].as_array().expect("items").iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(changed_ids, [ids[0].as_str(), fourth.as_str()], "changed, then created, in change order");
    assert_eq!(delta["deleted"], json!([ids[1]]));
    let newer = delta["knowledge"].as_i64().expect("knowledge");
    assert!(newer > known);
    let quiet = sync(newer, 100).await;
    assert_eq!(
        (quiet["items"].clone(), quiet["deleted"].clone(), quiet["knowledge"].as_i64()),
        (json!([]), json!([]), Some(newer))
    );

    // Page through a delta: each page's knowledge is where the next starts.
    let page = sync(0, 2).await;
    assert_eq!((page["items"].as_array().map(Vec::len), page["more"].as_bool()), (Some(2), Some(true)));
    let rest = sync(page["knowledge"].as_i64().expect("knowledge"), 2).await;
    assert_eq!((rest["items"].as_array().map(Vec::len), rest["more"].as_bool()), (Some(1), Some(false)));
    assert_eq!(rest["deleted"], json!([ids[1]]));

    let bad = send_patch(&host, &token, &item(&ids[0]), json!({"amount": "1.234"})).await;
    expect_error(bad, 422, "validation_failed").await;
    let mixed = host
        .client
        .get(host.url(&format!("{transactions}?since=1&cursor=2026-11-10_1")))
        .bearer_auth(&token)
        .send()
        .await;
    expect_error(mixed.expect("send"), 422, "validation_failed").await;
    let events: Value =
        get(&host, &token, &format!("{base}/audit?entity=transaction")).await.json().await.expect("json");
    let actions: Vec<&str> =
        events["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["create", "delete", "update", "create", "create", "create"]);
    // Every event names its budget, and its time has the API's one form:
    // RFC 3339 in UTC with milliseconds, as the admin API writes it.
    for event in events["items"].as_array().expect("items") {
        assert_eq!(event["budget_id"], base.rsplit('/').next().unwrap_or_default(), "{event}");
        let at = event["occurred_at"].as_str().expect("occurred_at");
        let shape: String = at.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
        assert_eq!(shape, "9999-99-99T99:99:99.999Z", "occurred_at {at}");
    }
    // An unknown entity kind is refused, not answered with an empty list.
    expect_error(get(&host, &token, &format!("{base}/audit?entity=bogus")).await, 422, "invalid_value").await;
}

/// Minor units as the decimal string a client sends for a currency.
fn decimal(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exponent as usize + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent as usize);
    format!("{sign}{whole}.{fraction}")
}

/// A realistic November and the December after it, in `currency`. Every
/// amount is given in minor units, so the hand-computed figures below hold
/// for EUR (cents), JPY (yen) and BHD (fils) alike; only the strings sent
/// and parsed differ.
async fn realistic_month(currency: &str, exponent: u32) {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, &format!("month-{currency}")).await;
    let money = |minor: i64| decimal(minor, exponent);
    let budget =
        created(post(&host, &token, "/v1/budgets", json!({"name": currency, "currency": currency})).await).await;
    assert_eq!(budget["exponent"].as_u64(), Some(u64::from(exponent)));
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let accounts_path = format!("{base}/accounts");
    let checking = created(post(&host, &token, &accounts_path, json!({"name": "Checking", "type": "checking"})).await)
        .await["id"]
        .clone();
    let savings = created(post(&host, &token, &accounts_path, json!({"name": "Savings", "type": "savings"})).await)
        .await["id"]
        .clone();
    let categories: Value = get(&host, &token, &format!("{base}/categories")).await.json().await.expect("json");
    let income = categories["items"][0]["id"].clone();
    let group =
        created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Monthly"})).await).await;
    let mut ids = std::collections::HashMap::new();
    for (name, carryover) in [("Groceries", false), ("Rent", false), ("Dining", false), ("Utilities", true)] {
        let body = json!({"group_id": group["id"], "name": name, "carryover": carryover});
        ids.insert(name, created(post(&host, &token, &format!("{base}/categories"), body).await).await["id"].clone());
    }
    for (name, minor) in [("Groceries", 40_000), ("Rent", 120_000), ("Dining", 10_000), ("Utilities", 20_000)] {
        let path = format!("{base}/months/2026-11/categories/{}", ids[name].as_str().expect("id"));
        patch(&host, &token, &path, json!({"assigned": money(minor)})).await;
    }

    let transactions = format!("{base}/transactions");
    let spend = |date: &str, minor: i64, category: Option<&Value>| json!({"account_id": checking, "date": date, "amount": money(minor), "category_id": category});
    created(post(&host, &token, &transactions, spend("2026-11-01", 300_000, Some(&income))).await).await;
    created(post(&host, &token, &transactions, spend("2026-11-02", -120_000, Some(&ids["Rent"]))).await).await;
    created(post(&host, &token, &transactions, spend("2026-11-05", -25_000, Some(&ids["Groceries"]))).await).await;
    let split = json!({"account_id": checking, "date": "2026-11-08", "amount": money(-18_000), "payee": "Market",
        "splits": [{"amount": money(-15_000), "category_id": ids["Groceries"]},
                   {"amount": money(-3_000), "category_id": ids["Dining"]}]});
    created(post(&host, &token, &transactions, split).await).await;
    created(post(&host, &token, &transactions, spend("2026-11-12", -9_000, Some(&ids["Dining"]))).await).await;
    created(post(&host, &token, &transactions, spend("2026-11-20", -23_000, Some(&ids["Utilities"]))).await).await;
    let transfer = json!({"from_account_id": checking, "to_account_id": savings, "date": "2026-11-15",
                          "amount": money(50_000)});
    created(post(&host, &token, &format!("{base}/transfers"), transfer).await).await;

    // Two statements; the second repeats the first one's bakery row.
    let imports = format!("{base}/imports");
    let mapping = json!({"date_column": "date", "payee_column": "payee", "amount_column": "amount"});
    let statement = |rows: &[(&str, &str, i64)]| {
        let mut csv = String::from("date,payee,amount\n");
        for (date, payee, minor) in rows {
            csv.push_str(&format!("{date},{payee},{}\n", money(*minor)));
        }
        json!({"account_id": checking, "csv": csv, "mapping": mapping})
    };
    let first = statement(&[("2026-11-25", "Grocer", -4_000), ("2026-11-26", "Bakery", -1_500)]);
    let first = created(post(&host, &token, &imports, first).await).await;
    assert_eq!((first["added"].as_i64(), first["duplicates"].as_i64()), (Some(2), Some(0)));
    let second = statement(&[("2026-11-26", "Bakery", -1_500), ("2026-11-28", "Pharmacy", -2_500)]);
    let second = created(post(&host, &token, &imports, second).await).await;
    assert_eq!((second["added"].as_i64(), second["duplicates"].as_i64()), (Some(1), Some(1)));
    assert_eq!(second["rows"][0]["status"], "duplicate");
    // File the grocer's row under Groceries.
    let page: Value = get(&host, &token, &format!("{transactions}?payee=Grocer")).await.json().await.expect("json");
    let grocer = page["items"][0]["id"].as_str().expect("imported grocer").to_string();
    let refile = json!({"category_id": ids["Groceries"]});
    let refiled = send_patch(&host, &token, &format!("{transactions}/{grocer}"), refile).await;
    assert_eq!(refiled.status(), 200);

    // November by hand. Groceries: 400 − 250 − 150 − 40 = −40 (overspent,
    // no carryover). Rent: 0. Dining: 100 − 30 − 90 = −20 (overspent, no
    // carryover). Utilities: 200 − 230 = −30 (carried). Income 3000,
    // assigned 1900, to be budgeted 1100. Bakery and pharmacy (−15, −25)
    // stay uncategorized.
    let november: Value = get(&host, &token, &format!("{base}/months/2026-11")).await.json().await.expect("json");
    assert_eq!(figures(&november, "Groceries"), (40_000, -44_000, -4_000));
    assert_eq!(figures(&november, "Rent"), (120_000, -120_000, 0));
    assert_eq!(figures(&november, "Dining"), (10_000, -12_000, -2_000));
    assert_eq!(figures(&november, "Utilities"), (20_000, -23_000, -3_000));
    assert_eq!((minor(&november, "income"), minor(&november, "assigned")), (300_000, 190_000));
    assert_eq!((minor(&november, "activity"), minor(&november, "to_be_budgeted")), (-199_000, 110_000));
    assert_eq!(minor(&november, "uncategorized_activity"), -4_000);
    assert_eq!(november["to_be_budgeted"]["amount"], money(110_000));

    // December: Groceries and Dining start at 0 and their 60 comes out of to
    // be budgeted; Utilities carries −30.
    let december: Value = get(&host, &token, &format!("{base}/months/2026-12")).await.json().await.expect("json");
    assert_eq!(figures(&december, "Groceries"), (0, 0, 0));
    assert_eq!(figures(&december, "Dining"), (0, 0, 0));
    assert_eq!(figures(&december, "Utilities"), (0, 0, -3_000));
    assert_eq!(minor(&december, "overspent_last_month"), 6_000);
    assert_eq!(minor(&december, "to_be_budgeted"), 104_000);

    // Checking: 3000 − 1200 − 250 − 180 − 90 − 230 − 500 − 40 − 15 − 25 = 470;
    // Savings 500 from the transfer.
    let accounts: Value = get(&host, &token, &accounts_path).await.json().await.expect("json");
    let balances: Vec<i64> = accounts["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["balance"]["minor_units"].as_i64())
        .collect();
    assert_eq!(balances, [47_000, 50_000]);
    assert_eq!(accounts["items"][0]["balance"]["amount"], money(47_000));
    // On-budget money = to be budgeted + what the categories hold + what is
    // still uncategorized (1040 − 30 − 40 = 970 = 470 + 500), from the API's own figures.
    let held: i64 = december["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .filter_map(|c| c["available"]["minor_units"].as_i64())
        .sum();
    let accounted = minor(&december, "to_be_budgeted") + held + minor(&november, "uncategorized_activity");
    assert_eq!(accounted, balances.iter().sum::<i64>());
}

#[tokio::test]
async fn a_realistic_month_in_euros() {
    realistic_month("EUR", 2).await;
}

#[tokio::test]
async fn a_realistic_month_in_yen() {
    realistic_month("JPY", 0).await;
}

#[tokio::test]
async fn a_realistic_month_in_bahraini_dinars() {
    realistic_month("BHD", 3).await;
}

#[tokio::test]
async fn closing_an_account_moves_its_balance_and_lists_sync_by_knowledge() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "mia").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let accounts_path = format!("{base}/accounts");
    let open = |name: &str, on_budget: bool, opening: &str| {
        let body = json!({"name": name, "type": "checking", "on_budget": on_budget, "opening_balance": opening,
                          "opening_date": "2026-11-01"});
        post(&host, &token, &accounts_path, body)
    };
    let old = created(open("Old bank", true, "120.50").await).await["id"].as_str().expect("id").to_string();
    let new = created(open("New bank", true, "10").await).await["id"].as_str().expect("id").to_string();
    let tracking = created(open("Pension", false, "0").await).await["id"].as_str().expect("id").to_string();
    let listing: Value = get(&host, &token, &accounts_path).await.json().await.expect("json");
    let known = listing["knowledge"].as_i64().expect("knowledge");

    let close = |id: &str, body: Value| {
        let path = format!("{accounts_path}/{id}/close");
        let (host, token) = (&host, &token);
        async move { post(host, token, &path, body).await }
    };
    let refused = close(&old, json!({})).await;
    let body = expect_error(refused, 422, "validation_failed").await;
    assert_eq!(body["error"]["fields"][0]["field"], "transfer_to_account_id");
    expect_error(close(&old, json!({"transfer_to_account_id": tracking})).await, 422, "validation_failed").await;
    let closed = close(&old, json!({"transfer_to_account_id": new, "date": "2026-11-30"})).await;
    assert_eq!(closed.status(), 200);
    let closed: Value = closed.json().await.expect("json");
    assert_eq!((closed["closed"].as_bool(), closed["balance"]["minor_units"].as_i64()), (Some(true), Some(0)));
    expect_error(close(&old, json!({})).await, 409, "conflict").await;
    let late = json!({"account_id": old, "date": "2026-12-01", "amount": "-1"});
    expect_error(post(&host, &token, &format!("{base}/transactions"), late).await, 422, "validation_failed").await;

    // Only the changes since `known`: the closed account and the new bank's
    // transfer; the pension account did not change.
    let delta: Value = get(&host, &token, &format!("{accounts_path}?since={known}")).await.json().await.expect("json");
    let names: Vec<&str> =
        delta["items"].as_array().expect("items").iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["Old bank"]);
    assert!(delta["knowledge"].as_i64().expect("knowledge") > known);
    let all: Value = get(&host, &token, &accounts_path).await.json().await.expect("json");
    let balance = |name: &str| {
        all["items"].as_array().and_then(|a| a.iter().find(|x| x["name"] == name)).expect("account")["balance"]
            ["minor_units"]
            .as_i64()
    };
    assert_eq!((balance("Old bank"), balance("New bank")), (Some(0), Some(13_050)));
    let transfers: Value =
        get(&host, &token, &format!("{base}/transfers?since={known}")).await.json().await.expect("json");
    assert_eq!(transfers["items"][0]["amount"]["minor_units"], 12_050);
    assert_eq!(transfers["items"][0]["memo"], "Closing balance");
    assert_eq!(transfers["deleted"], json!([]));
    let categories: Value =
        get(&host, &token, &format!("{base}/categories?since={known}")).await.json().await.expect("json");
    assert_eq!(categories["items"], json!([]), "no category changed");
    expect_error(get(&host, &token, &format!("{accounts_path}?since=soon")).await, 422, "validation_failed").await;
}

#[tokio::test]
async fn categories_and_groups_change_and_carryover_follows() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "nina").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let checking =
        created(post(&host, &token, &format!("{base}/accounts"), json!({"name": "C", "type": "cash"})).await).await;
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Fun"})).await).await;
    let group_id = group["id"].as_str().expect("id").to_string();
    let games = created(
        post(&host, &token, &format!("{base}/categories"), json!({"group_id": group_id, "name": "Games"})).await,
    )
    .await;
    let games_id = games["id"].as_str().expect("id").to_string();
    let spend = json!({"account_id": checking["id"], "date": "2026-11-03", "amount": "-20", "category_id": games_id});
    created(post(&host, &token, &format!("{base}/transactions"), spend).await).await;

    let december = |host: &HostProcess| {
        let request = host.client.get(host.url(&format!("{base}/months/2026-12"))).bearer_auth(&token);
        async move { request.send().await.expect("month").json::<Value>().await.expect("json") }
    };
    assert_eq!(figures(&december(&host).await, "Games"), (0, 0, 0), "no carryover: the −20 does not follow");
    // Carryover is a per-month setting (issue 12): it applies from
    // `carryover_from` on. The old expectation (a bare `carryover: true`
    // carrying November's −20 into December) relied on the flag rewriting
    // every month, the defect; the default start is now the current month,
    // so the test names November.
    let changed = patch(
        &host,
        &token,
        &format!("{base}/categories/{games_id}"),
        json!({"carryover": true, "carryover_from": "2026-11", "note": "consoles", "name": "Video games"}),
    )
    .await;
    assert_eq!((changed["carryover"].as_bool(), changed["name"].as_str()), (Some(true), Some("Video games")));
    assert_eq!(changed["note"], "consoles");
    assert_eq!(figures(&december(&host).await, "Video games"), (0, 0, -2_000), "with carryover it does");

    let hidden = patch(&host, &token, &format!("{base}/category-groups/{group_id}"), json!({"hidden": true})).await;
    assert_eq!(hidden["hidden"], true);
    let listed: Value = get(&host, &token, &format!("{base}/categories")).await.json().await.expect("json");
    let games =
        listed["items"].as_array().and_then(|c| c.iter().find(|c| c["id"] == games_id.as_str())).expect("games");
    assert_eq!(games["hidden"], true, "a hidden group hides its categories");
    let bad = send_patch(&host, &token, &format!("{base}/categories/{games_id}"), json!({"name": ""})).await;
    expect_error(bad, 422, "validation_failed").await;
    let unknown =
        send_patch(&host, &token, &format!("{base}/categories/{}", uuid_like()), json!({"hidden": true})).await;
    expect_error(unknown, 404, "not_found").await;
    let events: Value = get(&host, &token, &format!("{base}/audit?entity=category")).await.json().await.expect("json");
    assert_eq!(events["items"][0]["before"]["name"], "Games");
    assert_eq!(events["items"][0]["after"]["name"], "Video games");
}

fn uuid_like() -> &'static str {
    "00000000-0000-4000-8000-000000000000"
}

#[tokio::test]
async fn months_far_apart_stay_within_the_components_limits() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "olga").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Long", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let account =
        created(post(&host, &token, &format!("{base}/accounts"), json!({"name": "A", "type": "cash"})).await).await;
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "G"})).await).await;
    let mut first = None;
    for i in 0..41 {
        let body = json!({"group_id": group["id"], "name": format!("C{i}")});
        let category = created(post(&host, &token, &format!("{base}/categories"), body).await).await;
        first.get_or_insert(category["id"].clone());
    }
    let old = json!({"account_id": account["id"], "date": "1900-01-01", "amount": "-1", "category_id": first});
    created(post(&host, &token, &format!("{base}/transactions"), old).await).await;
    // The month math runs from January 1900 to December 2200: 3,612 months × 41 categories.
    let far = get(&host, &token, &format!("{base}/months/2200-12")).await;
    assert_eq!(far.status(), 200, "{}", far.text().await.unwrap_or_default());
    for month in ["0000-01", "1899-12", "2201-01"] {
        expect_error(get(&host, &token, &format!("{base}/months/{month}")).await, 422, "validation_failed").await;
    }
    let ancient = json!({"account_id": account["id"], "date": "0000-01-01", "amount": "-1"});
    expect_error(post(&host, &token, &format!("{base}/transactions"), ancient).await, 422, "validation_failed").await;
    let long_id =
        json!({"account_id": account["id"], "date": "2026-01-01", "amount": "-1", "import_id": "x".repeat(4096)});
    expect_error(post(&host, &token, &format!("{base}/transactions"), long_id).await, 422, "validation_failed").await;
}

/// GETs `path` and returns its JSON, which must come with 200.
async fn read_ok(host: &HostProcess, token: &str, path: &str) -> Value {
    let response = get(host, token, path).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn send_patch(host: &HostProcess, token: &str, path: &str, body: Value) -> reqwest::Response {
    host.client.patch(host.url(path)).bearer_auth(token).json(&body).send().await.expect("patch")
}

/// The current month in UTC, as PostgreSQL (and so the ledger) sees it.
async fn current_month(db: &TestDatabase) -> String {
    let row: (String,) = sqlx::query_as("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')")
        .fetch_one(&mut db.connect().await)
        .await
        .expect("now");
    row.0
}

fn category_in<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["categories"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no category {name} in {view}"))
}

/// Issue 12, item 1: carryover is a per-month setting. Turning it off "in
/// April" leaves February, March and April exactly as they were; only the
/// months after April move. Turning it back on from March restores every
/// figure, and the setting's default start is the current month.
#[tokio::test]
async fn carryover_applies_from_a_month_on_and_never_rewrites_earlier_months() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "pia").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let opening = json!({"name": "Cash", "type": "cash", "opening_balance": "1000", "opening_date": "2026-02-01"});
    let account = created(post(&host, &token, &format!("{base}/accounts"), opening).await).await["id"].clone();
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Fun"})).await).await;
    let body = json!({"group_id": group["id"], "name": "Games", "carryover": true});
    let games = created(post(&host, &token, &format!("{base}/categories"), body).await).await;
    let games_id = games["id"].as_str().expect("id").to_string();
    for month in ["02", "03", "04"] {
        let spend = json!({"account_id": account, "date": format!("2026-{month}-10"), "amount": "-10",
                           "category_id": games_id});
        created(post(&host, &token, &format!("{base}/transactions"), spend).await).await;
    }
    let views = || {
        let (host, token, base) = (&host, &token, &base);
        async move {
            let mut views = Vec::new();
            for month in ["2026-02", "2026-03", "2026-04", "2026-05"] {
                views.push(read_ok(host, token, &format!("{base}/months/{month}")).await);
            }
            views
        }
    };
    let before = views().await;
    // Carrying from the beginning: −10, −20, −30, and May starts at −30.
    assert_eq!(figures(&before[1], "Games"), (0, -1_000, -2_000));
    assert_eq!(figures(&before[2], "Games"), (0, -1_000, -3_000));
    assert_eq!(figures(&before[3], "Games"), (0, 0, -3_000));
    assert_eq!(minor(&before[3], "to_be_budgeted"), 100_000);

    let path = format!("{base}/categories/{games_id}");
    let off = patch(&host, &token, &path, json!({"carryover": false, "carryover_from": "2026-04"})).await;
    assert_eq!(
        off["carryover_schedule"],
        json!([{"from": "1900-01", "carryover": true}, {"from": "2026-04", "carryover": false}])
    );
    let now = current_month(&db).await;
    assert_eq!(off["carryover"], json!(now.as_str() < "2026-04"), "the flag in force in the current month ({now})");
    let after = views().await;
    assert_eq!(after[0], before[0], "February is untouched");
    assert_eq!(after[1], before[1], "March is untouched");
    assert_eq!(category_in(&after[1], "Games")["carryover"], true, "March still carries");
    assert_eq!(category_in(&after[2], "Games")["carryover"], false, "April shows the new flag");
    let mut april = after[2].clone();
    for category in april["categories"].as_array_mut().expect("categories") {
        if category["name"] == "Games" {
            category["carryover"] = json!(true);
        }
    }
    assert_eq!(april, before[2], "April's figures are untouched: its flag only decides what May gets");
    // April's −30 no longer rolls into May: it comes out of May's to be budgeted.
    assert_eq!(figures(&after[3], "Games"), (0, 0, 0));
    assert_eq!(minor(&after[3], "overspent_last_month"), 3_000);
    assert_eq!(minor(&after[3], "to_be_budgeted"), 97_000);

    // On again from March: later settings are replaced, the schedule stays
    // minimal, and every figure is back.
    let on = patch(&host, &token, &path, json!({"carryover": true, "carryover_from": "2026-03"})).await;
    assert_eq!(on["carryover_schedule"], json!([{"from": "1900-01", "carryover": true}]));
    assert_eq!(views().await, before);

    // Without carryover_from the setting starts in the current month.
    let defaulted = patch(&host, &token, &path, json!({"carryover": false})).await;
    let later = current_month(&db).await;
    let from = defaulted["carryover_schedule"][1]["from"].as_str().expect("a second entry").to_string();
    assert!(from == now || from == later, "starts in the current month: {from} (now {now})");
    assert_eq!(defaulted["carryover"], false);
    if from.as_str() > "2026-05" {
        assert_eq!(views().await, before, "months before the current one keep their figures");
    }
    let listed: Value = read_ok(&host, &token, &format!("{base}/categories")).await;
    let listed = listed["items"].as_array().and_then(|c| c.iter().find(|c| c["id"] == games_id.as_str())).cloned();
    let listed = listed.expect("games in the list");
    assert_eq!(
        (listed["carryover"].clone(), listed["carryover_schedule"].clone()),
        (json!(false), defaulted["carryover_schedule"].clone())
    );

    for (body, field) in [
        (json!({"carryover_from": "2026-04"}), "carryover_from"),
        (json!({"carryover": true, "carryover_from": "2026-13"}), "carryover_from"),
        (json!({"carryover": true, "carryover_from": "1899-12"}), "carryover_from"),
        (json!({"carryover": true, "carryover_from": "2026-4"}), "carryover_from"),
    ] {
        let refused =
            expect_error(send_patch(&host, &token, &path, body.clone()).await, 422, "validation_failed").await;
        assert_eq!(refused["error"]["fields"][0]["field"], field, "{body}");
    }
    let number = send_patch(&host, &token, &path, json!({"carryover": true, "carryover_from": 202604})).await;
    expect_error(number, 400, "invalid_json").await;
    let events: Value = read_ok(&host, &token, &format!("{base}/audit?entity=category")).await;
    assert_eq!(events["items"][0]["after"]["carryover_schedule"], defaulted["carryover_schedule"]);
}

/// Issue 12, item 1: migration 0007 turns each category's old flag into a
/// setting from the beginning of time, so no month's figures change; and
/// migration 0008 counts the amounts already stored against the limit.
#[tokio::test]
async fn migrating_to_per_month_carryover_keeps_history_and_counts_stored_amounts() {
    let db = TestDatabase::create().await;
    let before_0007 = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(repo_root().join("components/ledger/migrations")).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().to_string();
        if name.as_str() < "0007" {
            std::fs::copy(&path, before_0007.path().join(&name)).expect("copy");
        }
    }
    // The data is written on the schema before 0007 (the writes used here
    // touch only tables that schema has).
    let (old_host, mongo) = host_migrated(&db, OwnedMongo::start(), before_0007.path()).await;
    let host = &old_host;
    let (_, token) = user(host, "quinn").await;
    let budget = created(post(host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let budget_id = budget["id"].as_str().expect("id").to_string();
    let base = format!("/v1/budgets/{budget_id}");
    let opening = json!({"name": "Cash", "type": "cash", "opening_balance": "1000", "opening_date": "2026-01-01"});
    let account = created(post(host, &token, &format!("{base}/accounts"), opening).await).await["id"].clone();
    let group = created(post(host, &token, &format!("{base}/category-groups"), json!({"name": "G"})).await).await;
    let mut ids = std::collections::HashMap::new();
    for (name, carryover) in [("Debt", true), ("Food", false)] {
        let body = json!({"group_id": group["id"], "name": name, "carryover": carryover});
        ids.insert(name, created(post(host, &token, &format!("{base}/categories"), body).await).await["id"].clone());
    }
    for (date, amount) in [("2026-01-10", "-100"), ("2026-02-10", "-50")] {
        for name in ["Debt", "Food"] {
            let spend = json!({"account_id": account, "date": date, "amount": amount, "category_id": ids[name]});
            created(post(host, &token, &format!("{base}/transactions"), spend).await).await;
        }
    }
    let mut conn = db.connect().await;
    // The ledger's triggers name its tables unqualified, as the app's role sees them.
    sqlx::query("SET search_path TO app_ledger").execute(&mut conn).await.expect("search_path");
    sqlx::query(
        "INSERT INTO app_ledger.assignments (category_id, month, budget_id, assigned)
         VALUES ($1::uuid, '2026-02-01', $2::uuid, 3000)",
    )
    .bind(ids["Food"].as_str().expect("id"))
    .bind(&budget_id)
    .execute(&mut conn)
    .await
    .expect("assign 30 to Food in February");
    // A second budget 7 minor units below the limit.
    let big = created(post(host, &token, "/v1/budgets", json!({"name": "Big", "currency": "EUR"})).await).await;
    let big_base = format!("/v1/budgets/{}", big["id"].as_str().expect("id"));
    let vault = json!({"name": "Vault", "type": "cash", "opening_balance": "92233720368547758.00",
                       "opening_date": "2026-01-01"});
    let vault = created(post(host, &token, &format!("{big_base}/accounts"), vault).await).await["id"].clone();
    drop(old_host);
    drop(mongo);

    let (host, _mongo) = self::host(&db).await;
    let view = |month: &str| {
        let (host, token, path) = (&host, &token, format!("{base}/months/{month}"));
        async move { read_ok(host, token, &path).await }
    };
    // The figures the old, budget-wide flags gave, by hand. January: Debt
    // and Food −100 each. February: Debt carries (−150); Food starts at 0,
    // 30 − 50 = −20, and January's −100 comes out of to be budgeted.
    // March: Debt −150, Food 0, February's −20 out of to be budgeted.
    let january = view("2026-01").await;
    assert_eq!((figures(&january, "Debt"), figures(&january, "Food")), ((0, -10_000, -10_000), (0, -10_000, -10_000)));
    assert_eq!(minor(&january, "to_be_budgeted"), 100_000);
    let february = view("2026-02").await;
    assert_eq!(
        (figures(&february, "Debt"), figures(&february, "Food")),
        ((0, -5_000, -15_000), (3_000, -5_000, -2_000))
    );
    assert_eq!((minor(&february, "overspent_last_month"), minor(&february, "to_be_budgeted")), (10_000, 87_000));
    let march = view("2026-03").await;
    assert_eq!((figures(&march, "Debt"), figures(&march, "Food")), ((0, 0, -15_000), (0, 0, 0)));
    assert_eq!((minor(&march, "overspent_last_month"), minor(&march, "to_be_budgeted")), (2_000, 85_000));
    assert_eq!(
        (category_in(&march, "Debt")["carryover"].clone(), category_in(&march, "Food")["carryover"].clone()),
        (json!(true), json!(false))
    );
    let listed = read_ok(&host, &token, &format!("{base}/categories")).await;
    let schedule = |name: &str| {
        listed["items"].as_array().and_then(|c| c.iter().find(|c| c["name"] == name)).expect("category")
            ["carryover_schedule"]
            .clone()
    };
    assert_eq!(schedule("Debt"), json!([{"from": "1900-01", "carryover": true}]));
    assert_eq!(schedule("Food"), json!([]));

    // 0008 counted what was stored: 1000 + 4 spendings (300) + 30 assigned.
    let volume: (String,) = sqlx::query_as("SELECT volume::text FROM app_ledger.budgets WHERE id = $1::uuid")
        .bind(&budget_id)
        .fetch_one(&mut db.connect().await)
        .await
        .expect("volume");
    assert_eq!(volume.0, "133000");
    // The big budget takes its last 7 minor units and not one more.
    let big_transactions = format!("{big_base}/transactions");
    let add = |amount: &str| {
        let body = json!({"account_id": vault, "date": "2026-01-02", "amount": amount});
        post(&host, &token, &big_transactions, body)
    };
    created(add("0.07").await).await;
    expect_error(add("0.01").await, 422, "amount_limit_exceeded").await;
}

/// Issue 12, items 2 and 3: both reports net refunds into expense
/// categories, and both leave uncategorized inflows outside the budget
/// (neither income nor expense); a month's spending lines add up to its
/// expense.
#[tokio::test]
async fn reports_net_refunds_and_leave_uncategorized_inflows_outside() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "rosa").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Home", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let opening = json!({"name": "Checking", "type": "checking", "opening_balance": "1000",
                         "opening_date": "2026-11-01"});
    let checking = created(post(&host, &token, &format!("{base}/accounts"), opening).await).await["id"].clone();
    let income = read_ok(&host, &token, &format!("{base}/categories")).await["items"][0]["id"].clone();
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "Life"})).await).await;
    let mut ids = std::collections::HashMap::new();
    for name in ["Dining", "Groceries", "Household"] {
        let body = json!({"group_id": group["id"], "name": name});
        ids.insert(name, created(post(&host, &token, &format!("{base}/categories"), body).await).await["id"].clone());
    }
    let transactions = format!("{base}/transactions");
    let add = |body: Value| post(&host, &token, &transactions, body);
    let spend = |date: &str, amount: &str, category: Option<&Value>| json!({"account_id": checking, "date": date, "amount": amount, "category_id": category});
    // The reviewer's case: 280.00 of groceries and a 25.00 refund into groceries.
    created(add(spend("2026-11-05", "-280", Some(&ids["Groceries"]))).await).await;
    created(add(spend("2026-11-12", "25", Some(&ids["Groceries"]))).await).await;
    // A split with a returned item: 60 of dining out, 10 back into household.
    let split = json!({"account_id": checking, "date": "2026-11-15", "amount": "-50", "splits": [
        {"amount": "-60", "category_id": ids["Dining"]}, {"amount": "10", "category_id": ids["Household"]}]});
    created(add(split).await).await;
    created(add(spend("2026-11-20", "-30", None)).await).await;
    // December: a CSV statement, uncategorized like every import: a salary
    // of 100 and a 30 purchase.
    let csv = "date,payee,amount\n2026-12-01,Employer,100.00\n2026-12-03,Shop,-30.00\n";
    let statement = json!({"account_id": checking, "csv": csv,
                           "mapping": {"date_column": "date", "payee_column": "payee", "amount_column": "amount"}});
    created(post(&host, &token, &format!("{base}/imports"), statement).await).await;

    let report = |name: &str| {
        let path = format!("{base}/reports/{name}?from=2026-11&to=2026-12");
        let (host, token) = (&host, &token);
        async move { read_ok(host, token, &path).await["items"].clone() }
    };
    let spending = || {
        let report = &report;
        async move {
            report("spending")
                .await
                .as_array()
                .expect("items")
                .iter()
                .map(|i| {
                    let month = i["month"].as_str().unwrap_or_default().to_string();
                    let category = i["category_name"].as_str().unwrap_or_default().to_string();
                    (month, category, i["spent"]["minor_units"].as_i64().expect("minor"))
                })
                .collect::<Vec<_>>()
        }
    };
    let lines = spending().await;
    let expected = [
        ("2026-11", "Dining", 6_000),
        ("2026-11", "Groceries", 25_500),
        ("2026-11", "Household", -1_000),
        ("2026-11", "uncategorized", 3_000),
        ("2026-12", "uncategorized", 3_000),
    ];
    assert_eq!(lines, expected.map(|(m, c, a)| (m.to_string(), c.to_string(), a)).to_vec());

    let minor = |v: &Value, field: &str| v[field]["minor_units"].as_i64().unwrap_or_else(|| panic!("{field} in {v}"));
    let flows = report("income-expense").await;
    let row = |v: &Value| (minor(v, "income"), minor(v, "expense"), minor(v, "net"), minor(v, "uncategorized_inflow"));
    // November: 1000 in; 60 + 255 − 10 + 30 = 335 out.
    assert_eq!(row(&flows[0]), (100_000, 33_500, 66_500, 0));
    // December: the salary is outside the budget until categorised, so the
    // expense is the 30 the spending report shows (it was −70 before).
    assert_eq!(row(&flows[1]), (0, 3_000, -3_000, 10_000));
    for (index, month) in ["2026-11", "2026-12"].iter().enumerate() {
        let spent: i64 = lines.iter().filter(|(m, _, _)| m == month).map(|(_, _, a)| a).sum();
        assert_eq!(spent, minor(&flows[index], "expense"), "the reports agree on {month}");
    }

    // Once the salary is filed under income, it is income.
    let page = read_ok(&host, &token, &format!("{transactions}?payee=Employer")).await;
    let salary = page["items"][0]["id"].as_str().expect("the imported salary").to_string();
    patch(&host, &token, &format!("{transactions}/{salary}"), json!({"category_id": income})).await;
    let flows = report("income-expense").await;
    assert_eq!(row(&flows[1]), (10_000, 3_000, 7_000, 0));
    assert_eq!(spending().await, lines, "spending did not change");
}

/// Issue 12, item 4: a write that would take a budget's amounts past
/// 2^63 − 1 minor units is refused with 422, whatever kind of write it is,
/// and every read still answers 200 with exact figures afterwards. A budget
/// stored over the limit before it existed answers 422, never a wrapped or
/// saturated figure, and can be brought back.
#[tokio::test]
async fn amounts_at_the_limit_are_refused_and_every_read_still_answers() {
    let db = TestDatabase::create().await;
    let (host, _mongo) = host(&db).await;
    let (_, token) = user(&host, "sam").await;
    let budget = created(post(&host, &token, "/v1/budgets", json!({"name": "Vault", "currency": "EUR"})).await).await;
    let base = format!("/v1/budgets/{}", budget["id"].as_str().expect("id"));
    let accounts = format!("{base}/accounts");
    let opening = json!({"name": "Vault", "type": "cash", "opening_balance": "92233720368547758.07",
                         "opening_date": "2026-11-01"});
    let vault = created(post(&host, &token, &accounts, opening).await).await;
    assert_eq!(vault["balance"], json!({"amount": "92233720368547758.07", "minor_units": i64::MAX}));
    let vault = vault["id"].clone();
    let spare =
        created(post(&host, &token, &accounts, json!({"name": "Spare", "type": "cash"})).await).await["id"].clone();
    let group = created(post(&host, &token, &format!("{base}/category-groups"), json!({"name": "G"})).await).await;
    let fun = json!({"group_id": group["id"], "name": "Fun"});
    let fun = created(post(&host, &token, &format!("{base}/categories"), fun).await).await["id"].clone();
    let fun_id = fun.as_str().expect("id").to_string();

    let refused = |response: reqwest::Response| async move {
        let body = expect_error(response, 422, "amount_limit_exceeded").await;
        let detail = body["error"]["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains("9223372036854775807"), "the answer names the limit: {detail}");
    };
    let transactions = format!("{base}/transactions");
    let transaction = |account: &Value, amount: &str| {
        post(&host, &token, &transactions, json!({"account_id": account, "date": "2026-11-02", "amount": amount}))
    };
    // The reviewer's write: one more cent into the full account.
    refused(transaction(&vault, "0.01").await).await;
    // The rule is on the budget's amounts, whatever their sign or account.
    refused(transaction(&spare, "-0.01").await).await;
    let zero_split = json!({"account_id": spare, "date": "2026-11-02", "amount": "0", "splits": [
        {"amount": "0.01", "category_id": fun}, {"amount": "-0.01"}]});
    refused(post(&host, &token, &transactions, zero_split).await).await;
    let opening = json!({"name": "More", "type": "cash", "opening_balance": "0.01"});
    refused(post(&host, &token, &accounts, opening).await).await;
    let transfer = json!({"from_account_id": vault, "to_account_id": spare, "amount": "0.01", "date": "2026-11-02"});
    refused(post(&host, &token, &format!("{base}/transfers"), transfer).await).await;
    let close = json!({"transfer_to_account_id": spare, "date": "2026-11-30"});
    refused(post(&host, &token, &format!("{accounts}/{}/close", vault.as_str().expect("id")), close).await).await;
    let assign = format!("{base}/months/2026-11/categories/{fun_id}");
    refused(send_patch(&host, &token, &assign, json!({"assigned": "0.01"})).await).await;
    let moved = json!({"to_category_id": fun, "amount": "0.01"});
    refused(post(&host, &token, &format!("{base}/months/2026-11/moves"), moved).await).await;
    let csv = json!({"account_id": spare, "csv": "date,amount\n2026-11-03,0.01\n",
                     "mapping": {"date_column": "date", "amount_column": "amount"}});
    refused(post(&host, &token, &format!("{base}/imports"), csv).await).await;
    // A write that lowers the total passes; raising it back to the limit too.
    let page = read_ok(&host, &token, &transactions).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "the refusals wrote nothing: {page}");
    let opening_path = format!("{transactions}/{}", page["items"][0]["id"].as_str().expect("id"));
    patch(&host, &token, &opening_path, json!({"amount": "92233720368547758.06"})).await;
    patch(&host, &token, &opening_path, json!({"amount": "92233720368547758.07"})).await;

    // Every read answers, with exact figures.
    let max = json!({"amount": "92233720368547758.07", "minor_units": i64::MAX});
    let reads = [
        "/v1/budgets".to_string(),
        base.clone(),
        accounts.clone(),
        transactions.clone(),
        format!("{transactions}?since=0"),
        format!("{base}/categories"),
        format!("{base}/transfers"),
        format!("{base}/months/2026-11"),
        format!("{base}/months/2026-12"),
        format!("{base}/reports/spending?from=2026-10&to=2026-12"),
        format!("{base}/reports/income-expense?from=2026-10&to=2026-12"),
        format!("{base}/reports/net-worth?from=2026-10&to=2026-12"),
        format!("{base}/audit"),
    ];
    for path in &reads {
        read_ok(&host, &token, path).await;
    }
    let listed = read_ok(&host, &token, &accounts).await;
    assert_eq!(listed["items"][0]["balance"], max);
    let november = read_ok(&host, &token, &format!("{base}/months/2026-11")).await;
    assert_eq!((november["income"].clone(), november["to_be_budgeted"].clone()), (max.clone(), max.clone()));
    let december = read_ok(&host, &token, &format!("{base}/months/2026-12")).await;
    assert_eq!(december["to_be_budgeted"], max);
    let flows = read_ok(&host, &token, &format!("{base}/reports/income-expense?from=2026-11&to=2026-11")).await;
    assert_eq!((flows["items"][0]["income"].clone(), flows["items"][0]["net"].clone()), (max.clone(), max.clone()));
    let worth = read_ok(&host, &token, &format!("{base}/reports/net-worth?from=2026-11&to=2026-11")).await;
    assert_eq!(
        (worth["items"][0]["assets"].clone(), worth["items"][0]["net_worth"].clone()),
        (max.clone(), max.clone())
    );

    // Signs that used to wrap: 2^62 of income and a refund of 2^62 − 1 into
    // an expense category make a net of exactly 2^63 − 1.
    let edge = created(post(&host, &token, "/v1/budgets", json!({"name": "Edge", "currency": "EUR"})).await).await;
    let edge_id = edge["id"].as_str().expect("id").to_string();
    let edge_base = format!("/v1/budgets/{edge_id}");
    let opening = json!({"name": "Main", "type": "cash", "opening_balance": "46116860184273879.04",
                         "opening_date": "2026-11-01"});
    let main = created(post(&host, &token, &format!("{edge_base}/accounts"), opening).await).await["id"].clone();
    let group = created(post(&host, &token, &format!("{edge_base}/category-groups"), json!({"name": "G"})).await).await;
    let shop = json!({"group_id": group["id"], "name": "Shop"});
    let shop = created(post(&host, &token, &format!("{edge_base}/categories"), shop).await).await["id"].clone();
    let refund =
        json!({"account_id": main, "date": "2026-11-02", "amount": "46116860184273879.03", "category_id": shop});
    created(post(&host, &token, &format!("{edge_base}/transactions"), refund).await).await;
    let flows = read_ok(&host, &token, &format!("{edge_base}/reports/income-expense?from=2026-11&to=2026-11")).await;
    let item = &flows["items"][0];
    assert_eq!(
        (item["income"]["minor_units"].as_i64(), item["expense"]["minor_units"].as_i64(), item["net"].clone()),
        (Some(1 << 62), Some(-((1 << 62) - 1)), max.clone())
    );
    let spent = read_ok(&host, &token, &format!("{edge_base}/reports/spending?from=2026-11&to=2026-11")).await;
    assert_eq!(spent["items"][0]["spent"]["minor_units"].as_i64(), Some(-((1 << 62) - 1)));
    let edge_accounts = read_ok(&host, &token, &format!("{edge_base}/accounts")).await;
    assert_eq!(edge_accounts["items"][0]["balance"], max);

    // Data stored over the limit before it was enforced (written here with
    // the triggers off, as migration 0008's backfill would count it): the
    // reads refuse instead of wrapping, and deleting the excess is accepted.
    let mut conn = db.connect().await;
    sqlx::query("SET session_replication_role = replica").execute(&mut conn).await.expect("triggers off");
    let (excess,): (String,) = sqlx::query_as(
        "INSERT INTO app_ledger.transactions (budget_id, account_id, date, amount, category_id)
         VALUES ($1::uuid, $2::uuid, '2026-11-03', 9223372036854775807, $3::uuid) RETURNING id::text",
    )
    .bind(&edge_id)
    .bind(main.as_str().expect("id"))
    .bind(shop.as_str().expect("id"))
    .fetch_one(&mut conn)
    .await
    .expect("store an excess");
    sqlx::query(
        "UPDATE app_ledger.budgets SET volume = volume + 9223372036854775807, knowledge = knowledge + 1
          WHERE id = $1::uuid",
    )
    .bind(&edge_id)
    .execute(&mut conn)
    .await
    .expect("count it");
    // Its balance, Shop's activity and the net worth are now beyond the range.
    for path in [
        format!("{edge_base}/accounts"),
        format!("{edge_base}/months/2026-11"),
        format!("{edge_base}/reports/spending?from=2026-11&to=2026-11"),
        format!("{edge_base}/reports/net-worth?from=2026-11&to=2026-11"),
    ] {
        refused(get(&host, &token, &path).await).await;
    }
    let more = json!({"account_id": main, "date": "2026-11-04", "amount": "0.01"});
    refused(post(&host, &token, &format!("{edge_base}/transactions"), more).await).await;
    let deleted = host
        .client
        .delete(host.url(&format!("{edge_base}/transactions/{excess}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204, "lowering the total is always accepted");
    let edge_accounts = read_ok(&host, &token, &format!("{edge_base}/accounts")).await;
    assert_eq!(edge_accounts["items"][0]["balance"], max);
    read_ok(&host, &token, &format!("{edge_base}/months/2026-11")).await;
}
