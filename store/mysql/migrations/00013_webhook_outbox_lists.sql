-- The admin lists of webhook notifications (callbackd webhook list, GET
-- /api/v1/admin/webhooks/deliveries, the console's Webhooks page) are
-- newest first, by state or by account (the URL filter goes through the
-- accounts whose webhook has it). Without these indexes a state or an
-- account with few rows reads the whole outbox backwards.

-- +goose Up
ALTER TABLE webhook_outbox
    ADD KEY webhook_outbox_state_id (state, id),
    ADD KEY webhook_outbox_account_id (account, id);
ALTER TABLE account_webhooks ADD KEY account_webhooks_url (url(255));

-- +goose Down
ALTER TABLE account_webhooks DROP KEY account_webhooks_url;
ALTER TABLE webhook_outbox
    DROP KEY webhook_outbox_account_id,
    DROP KEY webhook_outbox_state_id;
