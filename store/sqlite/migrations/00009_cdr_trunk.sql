-- Each CDR names the trunk that carried its leg (ari.trunks): with
-- several carriers, failover and prefix routing, the bill of a leg
-- depends on which one it went through. Empty for CDRs written before,
-- and for legs placed with no named trunk.

-- +goose Up
ALTER TABLE cdrs ADD COLUMN trunk TEXT NOT NULL DEFAULT ''; -- The trunk (ari.trunks name) that carried the leg

-- +goose Down
ALTER TABLE cdrs DROP COLUMN trunk;
