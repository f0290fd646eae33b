-- The ledger: budgets owned by users, their accounts and transactions.
-- Amounts are bigint minor units of the budget's currency.

CREATE TABLE budgets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner text NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    exponent smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4),
    time_zone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budgets_owner ON budgets (owner, created_at, id);

CREATE TABLE accounts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    budget_id uuid NOT NULL REFERENCES budgets (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('checking', 'savings', 'credit_card', 'cash', 'loan')),
    on_budget boolean NOT NULL,
    closed boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_budget ON accounts (budget_id, created_at, id);

CREATE TABLE transactions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigserial UNIQUE,
    budget_id uuid NOT NULL REFERENCES budgets (id),
    account_id uuid NOT NULL REFERENCES accounts (id),
    date date NOT NULL,
    amount bigint NOT NULL,
    payee text NOT NULL DEFAULT '',
    memo text NOT NULL DEFAULT '',
    cleared boolean NOT NULL DEFAULT false,
    import_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, import_id)
);
CREATE INDEX transactions_page ON transactions (budget_id, date, seq);

-- A replayed POST returns the first answer; the same key with another body is refused.
CREATE TABLE idempotency_keys (
    owner text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status integer NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, key)
);
