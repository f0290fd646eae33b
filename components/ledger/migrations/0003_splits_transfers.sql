-- Splits: a transaction's lines, each with its own category; they sum to
-- the transaction's amount (checked by the ledger before it writes).
CREATE TABLE transaction_splits (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigserial UNIQUE,
    transaction_id uuid NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    category_id uuid REFERENCES categories (id),
    amount bigint NOT NULL,
    memo text NOT NULL DEFAULT ''
);
CREATE INDEX transaction_splits_transaction ON transaction_splits (transaction_id, seq);

-- A transfer between two accounts of a budget is one row, never a pair of
-- transactions, and never income or expense. Only when it crosses the
-- budget's edge (on-budget to off-budget or back) does it count, as
-- activity of its category.
CREATE TABLE transfers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigserial UNIQUE,
    budget_id uuid NOT NULL REFERENCES budgets (id),
    from_account_id uuid NOT NULL REFERENCES accounts (id),
    to_account_id uuid NOT NULL REFERENCES accounts (id),
    date date NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    memo text NOT NULL DEFAULT '',
    category_id uuid REFERENCES categories (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (from_account_id <> to_account_id)
);
CREATE INDEX transfers_budget ON transfers (budget_id, date, seq);
