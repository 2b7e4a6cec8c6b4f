-- Balance changes made by operators, one row each, and the indexes of the
-- admin lists and the CDR export.
--
-- A top-up or an adjustment never overwrites a balance: it adds amount (a
-- top-up is positive, an adjustment of either sign) to accounts.balance in
-- the transaction that writes its row here, with the reason given and the
-- balance after it. Calls move the balance through CDRs (cdrs.charge).
--
-- cdrs_start serves the CDR export and the reports, which select a range of
-- start_time; accounts_list_* the account list's filters, which page by
-- username.

-- +goose Up
CREATE TABLE account_ledger (
    id BIGINT NOT NULL AUTO_INCREMENT,
    entry_time DATETIME(3) NOT NULL COMMENT 'UTC',
    username VARCHAR(255) NOT NULL COMMENT 'accounts.username',
    kind VARCHAR(16) NOT NULL COMMENT 'topup or adjustment',
    amount BIGINT NOT NULL COMMENT 'Money added to the balance (1/10000 of the currency); negative takes away',
    balance_after BIGINT NOT NULL COMMENT 'Money: the balance once amount was added',
    currency VARCHAR(8) NULL COMMENT 'The account currency',
    reason VARCHAR(1024) NOT NULL COMMENT 'Why, as the operator gave it',
    operator VARCHAR(64) NOT NULL COMMENT 'Who',
    PRIMARY KEY (id),
    KEY account_ledger_username (username, id),
    CONSTRAINT account_ledger_kind CHECK (kind IN ('topup', 'adjustment')),
    CONSTRAINT account_ledger_account_fk FOREIGN KEY (username)
        REFERENCES accounts (username) ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE cdrs ADD KEY cdrs_start (start_time);
ALTER TABLE accounts
    ADD KEY accounts_list_blocked (blocked, username),
    ADD KEY accounts_list_tariff (tariff, username),
    ADD KEY accounts_list_currency (currency, username);

-- +goose Down
ALTER TABLE accounts
    DROP KEY accounts_list_currency,
    DROP KEY accounts_list_tariff,
    DROP KEY accounts_list_blocked;
ALTER TABLE cdrs DROP KEY cdrs_start;
DROP TABLE account_ledger;
