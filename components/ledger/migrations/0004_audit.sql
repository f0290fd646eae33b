-- Audit events wait here, written in the same transaction as the change
-- they describe, until they are copied to MongoDB (`audit_events`), so that
-- none is lost while MongoDB is down.
CREATE TABLE audit_outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigserial UNIQUE,
    event jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
