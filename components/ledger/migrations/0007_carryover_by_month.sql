-- Carryover is a per-month setting (issue 12). Turning a category's
-- carryover on or off applies from a start month on and never rewrites an
-- earlier month, as in Actual (`setCategoryCarryover` with a start month).
-- Each row says: from `month` on, until the category's next row, a negative
-- available of the category rolls into the next month (`carryover`), or
-- comes out of the next month's to-be-budgeted. Before a category's first
-- row the flag is off.
CREATE TABLE category_carryover (
    category_id uuid NOT NULL REFERENCES categories (id),
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    budget_id uuid NOT NULL REFERENCES budgets (id),
    carryover boolean NOT NULL,
    PRIMARY KEY (category_id, month)
);
CREATE INDEX category_carryover_budget ON category_carryover (budget_id, month);

-- History stays as it was: the flag a category had becomes its setting from
-- the beginning of time (1900-01, the ledger's first month).
INSERT INTO category_carryover (category_id, month, budget_id, carryover)
SELECT id, DATE '1900-01-01', budget_id, true FROM categories WHERE carryover;

-- Expand/contract: `categories.carryover` stays, for component versions
-- that predate this migration. The ledger reads only `category_carryover`;
-- it writes the flag of the latest setting into `categories.carryover` too.
-- A category created with the flag on (by any version) carries from the
-- beginning of time.
CREATE FUNCTION category_carryover_initial() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.carryover THEN
        INSERT INTO category_carryover (category_id, month, budget_id, carryover)
        VALUES (NEW.id, DATE '1900-01-01', NEW.budget_id, true) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER categories_carryover_initial AFTER INSERT ON categories
    FOR EACH ROW EXECUTE FUNCTION category_carryover_initial();

-- Settings change the month views: count every change in the budget's
-- knowledge, which versions the cached month summaries.
CREATE FUNCTION touch_budget_of_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE budgets SET knowledge = knowledge + 1 WHERE id = OLD.budget_id;
    ELSE
        UPDATE budgets SET knowledge = knowledge + 1 WHERE id = NEW.budget_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER category_carryover_knowledge AFTER INSERT OR UPDATE OR DELETE ON category_carryover
    FOR EACH ROW EXECUTE FUNCTION touch_budget_of_row();
