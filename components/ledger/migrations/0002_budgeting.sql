-- Envelope budgeting: category groups and categories, what is assigned to
-- each category per month, and transactions' categories.

CREATE TABLE category_groups (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigserial UNIQUE,
    budget_id uuid NOT NULL REFERENCES budgets (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    hidden boolean NOT NULL DEFAULT false,
    -- Transactions in an income group's categories are income (to be budgeted).
    is_income boolean NOT NULL DEFAULT false
);
CREATE INDEX category_groups_budget ON category_groups (budget_id, seq);

CREATE TABLE categories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigserial UNIQUE,
    budget_id uuid NOT NULL REFERENCES budgets (id),
    group_id uuid NOT NULL REFERENCES category_groups (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    hidden boolean NOT NULL DEFAULT false,
    note text NOT NULL DEFAULT '',
    -- Whether a negative available rolls into the next month.
    carryover boolean NOT NULL DEFAULT false
);
CREATE INDEX categories_budget ON categories (budget_id, seq);

ALTER TABLE transactions ADD COLUMN category_id uuid REFERENCES categories (id);
CREATE INDEX transactions_category_month ON transactions (budget_id, category_id, date);

CREATE TABLE assignments (
    category_id uuid NOT NULL REFERENCES categories (id),
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    budget_id uuid NOT NULL REFERENCES budgets (id),
    assigned bigint NOT NULL,
    PRIMARY KEY (category_id, month)
);
CREATE INDEX assignments_budget ON assignments (budget_id, month);
