-- The admin lists of webhook notifications (callbackd webhook list, GET
-- /api/v1/admin/webhooks/deliveries, the console's Webhooks page) are
-- newest first, by state or by account (the URL filter goes through the
-- accounts whose webhook has it). Without these indexes a state or an
-- account with few rows reads the whole outbox backwards.

-- +goose Up
CREATE INDEX webhook_outbox_state_id ON webhook_outbox (state, id);
CREATE INDEX webhook_outbox_account_id ON webhook_outbox (account, id);
CREATE INDEX account_webhooks_url ON account_webhooks (url);

-- +goose Down
DROP INDEX account_webhooks_url;
DROP INDEX webhook_outbox_account_id;
DROP INDEX webhook_outbox_state_id;
