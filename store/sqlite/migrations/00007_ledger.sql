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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_time TEXT NOT NULL,            -- UTC
    username TEXT NOT NULL REFERENCES accounts (username) ON UPDATE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'adjustment')),
    amount INTEGER NOT NULL,             -- Money added to the balance; negative takes away
    balance_after INTEGER NOT NULL,      -- Money: the balance once amount was added
    currency TEXT,                       -- The account currency
    reason TEXT NOT NULL,                -- Why, as the operator gave it
    operator TEXT NOT NULL               -- Who
) STRICT;

CREATE INDEX account_ledger_username ON account_ledger (username, id);
CREATE INDEX cdrs_start ON cdrs (start_time);
CREATE INDEX accounts_list_blocked ON accounts (blocked, username);
CREATE INDEX accounts_list_tariff ON accounts (tariff, username);
CREATE INDEX accounts_list_currency ON accounts (currency, username);

-- +goose Down
DROP INDEX accounts_list_currency;
DROP INDEX accounts_list_tariff;
DROP INDEX accounts_list_blocked;
DROP INDEX cdrs_start;
DROP TABLE account_ledger;
