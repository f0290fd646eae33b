-- Delta sync. Each budget counts its changes ("knowledge"). Every insert or
-- update of an account, category, transaction or transfer takes the
-- budget's next value, under the budget row's lock, so values commit in
-- order; a delete leaves a tombstone with its value. A client that has
-- seen knowledge K asks with `since=K` for what changed after it.
ALTER TABLE budgets ADD COLUMN knowledge bigint NOT NULL DEFAULT 0;

CREATE FUNCTION bump_knowledge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE budgets SET knowledge = knowledge + 1 WHERE id = NEW.budget_id RETURNING knowledge INTO NEW.knowledge;
    RETURN NEW;
END
$$;

CREATE TABLE tombstones (
    budget_id uuid NOT NULL REFERENCES budgets (id),
    entity text NOT NULL,
    id uuid NOT NULL,
    knowledge bigint NOT NULL,
    PRIMARY KEY (entity, id)
);
CREATE INDEX tombstones_knowledge ON tombstones (budget_id, entity, knowledge);

CREATE FUNCTION record_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
BEGIN
    UPDATE budgets SET knowledge = knowledge + 1 WHERE id = OLD.budget_id RETURNING knowledge INTO next;
    INSERT INTO tombstones (budget_id, entity, id, knowledge) VALUES (OLD.budget_id, TG_ARGV[0], OLD.id, next)
        ON CONFLICT (entity, id) DO UPDATE SET knowledge = EXCLUDED.knowledge;
    RETURN OLD;
END
$$;

ALTER TABLE accounts ADD COLUMN knowledge bigint NOT NULL DEFAULT 0;
ALTER TABLE categories ADD COLUMN knowledge bigint NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN knowledge bigint NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN knowledge bigint NOT NULL DEFAULT 0;
CREATE INDEX transactions_knowledge ON transactions (budget_id, knowledge);

CREATE TRIGGER accounts_knowledge BEFORE INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION bump_knowledge();
CREATE TRIGGER categories_knowledge BEFORE INSERT OR UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION bump_knowledge();
CREATE TRIGGER transactions_knowledge BEFORE INSERT OR UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION bump_knowledge();
CREATE TRIGGER transfers_knowledge BEFORE INSERT OR UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION bump_knowledge();
CREATE TRIGGER transactions_tombstone AFTER DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION record_tombstone('transaction');
CREATE TRIGGER transfers_tombstone AFTER DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION record_tombstone('transfer');
