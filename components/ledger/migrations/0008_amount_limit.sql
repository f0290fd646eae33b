-- Amounts at the limit (issue 12). Every amount and every total the API
-- shows is an integer of minor units in ±(2^63 − 1). An account holding
-- 2^63 − 1 used to accept one more cent, after which its balance (and the
-- month view, net worth, …) no longer fitted and every read failed.
--
-- The rule: a budget's **volume**, the sum of the absolute values of every
-- amount stored in it, may not exceed 2^63 − 1 = 9223372036854775807 minor
-- units. Counted: transactions, split lines, transfers (twice: a transfer
-- moves two balances) and assigned amounts. Every figure the ledger derives
-- is a signed sum of a subset of these (an account's balance, a category's
-- activity or available in a month, a month's income, to-be-budgeted, net
-- worth, assets and liabilities, report lines) and so lies within ±volume:
-- keeping the volume in range keeps every figure in range, whatever the
-- mix of signs. It is a simple bound rather than an exact one: a budget
-- near the limit may have a write refused whose figures would still fit.
-- (2^63 − 1 minor units are 92 quadrillion euros; no real budget gets near.)
--
-- The volume is kept in `budgets.volume` by the triggers below, so the
-- check costs one row update per write, for any component version. A write
-- that would raise a volume past the limit fails with SQLSTATE 22003 and
-- constraint `budget_amount_limit`, which the ledger answers with 422
-- `amount_limit_exceeded`. A write that lowers the volume always passes,
-- so a budget that is over the limit (possible only with data written
-- before this migration) can be brought back under it.
ALTER TABLE budgets ADD COLUMN volume numeric NOT NULL DEFAULT 0;

UPDATE budgets b SET volume =
      COALESCE((SELECT sum(abs(t.amount::numeric)) FROM transactions t WHERE t.budget_id = b.id), 0)
    + COALESCE((SELECT sum(abs(s.amount::numeric)) FROM transaction_splits s
                  JOIN transactions t ON t.id = s.transaction_id WHERE t.budget_id = b.id), 0)
    + 2 * COALESCE((SELECT sum(x.amount::numeric) FROM transfers x WHERE x.budget_id = b.id), 0)
    + COALESCE((SELECT sum(abs(a.assigned::numeric)) FROM assignments a WHERE a.budget_id = b.id), 0);

CREATE FUNCTION add_volume(budget uuid, delta numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
BEGIN
    IF budget IS NULL OR delta = 0 THEN
        RETURN;
    END IF;
    UPDATE budgets SET volume = volume + delta WHERE id = budget RETURNING volume INTO total;
    IF delta > 0 AND total > 9223372036854775807 THEN
        RAISE EXCEPTION 'the amounts of this budget would exceed 9223372036854775807 minor units in total'
            USING ERRCODE = '22003', CONSTRAINT = 'budget_amount_limit';
    END IF;
END
$$;

CREATE FUNCTION transactions_volume() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM add_volume(NEW.budget_id, abs(NEW.amount::numeric));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM add_volume(NEW.budget_id, abs(NEW.amount::numeric) - abs(OLD.amount::numeric));
    ELSE
        -- Before the delete, while the split lines (deleted by the cascade) are still there.
        PERFORM add_volume(OLD.budget_id, -abs(OLD.amount::numeric)
            - COALESCE((SELECT sum(abs(s.amount::numeric)) FROM transaction_splits s
                         WHERE s.transaction_id = OLD.id), 0));
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_volume AFTER INSERT OR UPDATE OF amount ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_volume();
CREATE TRIGGER transactions_volume_delete BEFORE DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_volume();

CREATE FUNCTION splits_volume() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM add_volume((SELECT budget_id FROM transactions WHERE id = NEW.transaction_id),
                           abs(NEW.amount::numeric));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM add_volume((SELECT budget_id FROM transactions WHERE id = NEW.transaction_id),
                           abs(NEW.amount::numeric) - abs(OLD.amount::numeric));
    ELSE
        -- A line deleted with its transaction was counted off by the
        -- transaction's delete; its transaction is gone by now, so the
        -- lookup finds no budget and nothing is counted twice.
        PERFORM add_volume((SELECT budget_id FROM transactions WHERE id = OLD.transaction_id),
                           -abs(OLD.amount::numeric));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transaction_splits_volume AFTER INSERT OR UPDATE OF amount OR DELETE ON transaction_splits
    FOR EACH ROW EXECUTE FUNCTION splits_volume();

CREATE FUNCTION transfers_volume() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM add_volume(NEW.budget_id, 2 * abs(NEW.amount::numeric));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM add_volume(NEW.budget_id, 2 * (abs(NEW.amount::numeric) - abs(OLD.amount::numeric)));
    ELSE
        PERFORM add_volume(OLD.budget_id, -2 * abs(OLD.amount::numeric));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_volume AFTER INSERT OR UPDATE OF amount OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_volume();

CREATE FUNCTION assignments_volume() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM add_volume(NEW.budget_id, abs(NEW.assigned::numeric));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM add_volume(NEW.budget_id, abs(NEW.assigned::numeric) - abs(OLD.assigned::numeric));
    ELSE
        PERFORM add_volume(OLD.budget_id, -abs(OLD.assigned::numeric));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER assignments_volume AFTER INSERT OR UPDATE OF assigned OR DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_volume();
