-- Assigning money changes the month view too: count it in the budget's
-- knowledge, which versions the cached month summaries. (Split lines are
-- written with their transaction, whose insert already counts.)
CREATE FUNCTION touch_budget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE budgets SET knowledge = knowledge + 1 WHERE id = NEW.budget_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER assignments_knowledge BEFORE INSERT OR UPDATE ON assignments
    FOR EACH ROW EXECUTE FUNCTION touch_budget();
