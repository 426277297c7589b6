-- expand
-- Handling of dead letters by an operator (shopctl dead-letters): a dead
-- letter is replayed (applied through the consumer's handlers and inbox) or
-- discarded with a reason; the row stays, marked handled. Unhandled dead
-- letters are those with handled_at NULL.
ALTER TABLE dead_letters
    ADD COLUMN handled_at timestamptz,
    ADD COLUMN resolution text CHECK (resolution IN ('replayed', 'discarded')),
    ADD COLUMN handled_by text,
    ADD COLUMN reason     text,
    ADD CONSTRAINT dead_letters_handled CHECK ((handled_at IS NULL) = (resolution IS NULL)
        AND (handled_at IS NULL) = (handled_by IS NULL)),
    ADD CONSTRAINT dead_letters_discard_reason CHECK (resolution IS DISTINCT FROM 'discarded' OR reason IS NOT NULL);

-- What the status command and the dead-letter gauge count.
CREATE INDEX dead_letters_unhandled ON dead_letters (topic) WHERE handled_at IS NULL;

-- The audit trail: every operator action on a dead letter, a replay that
-- failed again included (the letter then stays unhandled, its error
-- updated). Never updated or deleted by the services.
CREATE TABLE dead_letter_actions (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dead_letter_id bigint      NOT NULL REFERENCES dead_letters (id),
    action         text        NOT NULL CHECK (action IN ('replayed', 'replay_failed', 'replay_duplicate', 'discarded')),
    actor          text        NOT NULL,
    reason         text,
    error          text,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letter_actions_dead_letter_id ON dead_letter_actions (dead_letter_id);
