-- callbackd schema for SQLite (STRICT tables, SQLite 3.37+).
--
-- The same logical schema as the MariaDB/MySQL one (same tables, columns,
-- names and meanings); only the DDL differs. Conventions:
--   * Timestamps are TEXT 'YYYY-MM-DD HH:MM:SS.SSS' in UTC, always with three
--     decimals so that text order is time order. SQLite's own
--     datetime('now') is UTC in a compatible form, so a plain SQL client can
--     write next_call = datetime('now', '+1 minute') or compare against it.
--   * Booleans are INTEGER 0/1; money columns are INTEGER in 1/10000 of a
--     currency unit (callback.Money); exchange rates INTEGER in millionths
--     (callback.Rate).
--   * Optional text is NULL when empty.
--   * The seed's option names are in the comments, which SQLite keeps in
--     sqlite_schema for anyone reading the schema with .schema.

-- +goose Up
CREATE TABLE callback_requests (
    -- Sippy's callback_requests (seed 000 "ANI Callback", seed 001 "2 Way Callback").
    i_callback_request INTEGER PRIMARY KEY AUTOINCREMENT, -- The primary key
    username TEXT NOT NULL,              -- The callback call is originated on behalf of this user
    authname TEXT,                       -- The callback call is originated with this identity; NULL on insert becomes username
    md5secret TEXT,                      -- HA1: MD5 of "<username>:<realm>:<password>", hex
    original_cli TEXT,                   -- Original CLI: the number to call back
    original_set_cli TEXT,               -- Use this CLI when creating callback call leg
    original_cld TEXT,                   -- Original CLD: 2way_<CLD> or callingcard[_<lang>...]
    twoway_cli TEXT,                     -- Parameter for the 2WayCallback application
    twoway_authname TEXT,                -- Parameter for the 2WayCallback application
    twoway_md5secret TEXT,               -- Parameter for the 2WayCallback application
    call_id TEXT,                        -- Preset or generated Call-ID (channel id) of the callback leg
    twoway_call_id TEXT,                 -- Preset or derived Call-ID (channel id) of the call to the destination
    next_call TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now', '+5 seconds')), -- When the next attempt is due; default: Delay Before Callback, 5 s
    call_count INTEGER NOT NULL DEFAULT 0,                                           -- Attempts dialled so far
    canceled INTEGER NOT NULL DEFAULT 0 CHECK (canceled IN (0, 1)),                  -- Set from elsewhere to cancel the call
    credit_time INTEGER,                                                             -- First call leg is terminated after this many seconds
    anon_acct_enabled INTEGER NOT NULL DEFAULT 1 CHECK (anon_acct_enabled IN (0, 1)), -- Charge the real account for the first leg too
    default_user_used INTEGER NOT NULL DEFAULT 0 CHECK (default_user_used IN (0, 1)), -- The default callback user was chosen
    finished INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1)),                  -- 1: statistics entry; 0: schedule entry
    status TEXT NOT NULL DEFAULT 'Request received',                                 -- Callback status string
    result TEXT,                                                                     -- Callback result string
    creation_time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),      -- Date and time of request creation
    setup_time TEXT,                     -- Beginning of the latest callback call attempt
    connect_time TEXT,                   -- Connect time; NULL for failed calls
    disconnect_time TEXT,                -- End of the callback call
    -- callbackd's engine.
    attempt INTEGER NOT NULL DEFAULT 0,  -- Claims so far: the fencing token of guarded updates
    lease_owner TEXT,                    -- Node/boot holding the lease; NULL when free
    lease_expires TEXT,                  -- The lease is void after this
    last_cause INTEGER,                  -- Q.850 cause of the latest failed leg
    last_sip_code INTEGER,               -- SIP code of the latest failed leg
    last_error TEXT,                     -- Why the request failed or was refused
    source TEXT NOT NULL DEFAULT 'sql',  -- Trigger that created the request
    access_number TEXT,                  -- Access number that was called
    payer TEXT,                          -- Account paying leg A when not username
    language TEXT,                       -- IVR language
    ask_pin INTEGER NOT NULL DEFAULT 0 CHECK (ask_pin IN (0, 1)), -- PIN trigger: ask for a PIN after answer
    request_key TEXT UNIQUE,             -- Client idempotency key
    destination TEXT                     -- Leg B number when known at creation
) STRICT;

-- Claim: finished = 0 AND lease_owner IS NULL AND next_call <= ? ORDER BY next_call.
-- Also CanceledHeld (lease_owner = ?).
CREATE INDEX callback_requests_claim ON callback_requests (finished, lease_owner, next_call);
-- Rescue: finished = 0 AND lease_expires < ?.
CREATE INDEX callback_requests_lease ON callback_requests (finished, lease_expires);
CREATE INDEX callback_requests_cli ON callback_requests (original_cli, finished);
CREATE INDEX callback_requests_username ON callback_requests (username, finished);
CREATE INDEX callback_requests_payer ON callback_requests (payer, finished);
CREATE INDEX callback_requests_status ON callback_requests (status);
CREATE INDEX callback_requests_creation ON callback_requests (creation_time);

CREATE TABLE callback_request_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL REFERENCES callback_requests (i_callback_request) ON DELETE CASCADE,
    event_time TEXT NOT NULL,
    attempt INTEGER NOT NULL,            -- callback_requests.attempt when it happened
    status TEXT NOT NULL,                -- Status after the event
    result TEXT,                         -- Result after the event
    cause INTEGER,                       -- Q.850 cause
    sip_code INTEGER,
    note TEXT
) STRICT;

CREATE INDEX callback_request_events_request ON callback_request_events (request_id, id);

-- Seed 001: "The authname value can be omitted in which case the username
-- value will be used". SQLite has no BEFORE INSERT trigger that can change
-- NEW, so the row is corrected right after the insert, in the same
-- statement.
-- +goose StatementBegin
CREATE TRIGGER callback_requests_authname AFTER INSERT ON callback_requests
FOR EACH ROW WHEN NEW.authname IS NULL
BEGIN
    UPDATE callback_requests SET authname = NEW.username WHERE i_callback_request = NEW.i_callback_request;
END;
-- +goose StatementEnd

-- Every request's history starts with its creation, whoever inserted it.
-- +goose StatementBegin
CREATE TRIGGER callback_requests_created AFTER INSERT ON callback_requests
FOR EACH ROW
BEGIN
    INSERT INTO callback_request_events (request_id, event_time, attempt, status, result, note)
    VALUES (NEW.i_callback_request, NEW.creation_time, NEW.attempt, NEW.status, NEW.result,
            'request created (source ' || NEW.source || ')');
END;
-- +goose StatementEnd

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,                  -- bcrypt of the web/API/email password
    ha1 TEXT,                            -- MD5(username:realm:password), hex
    pin TEXT UNIQUE,                     -- Calling-card / PIN-trigger PIN; unique when set
    balance INTEGER NOT NULL DEFAULT 0,  -- Money: 1/10000 of the account currency
    currency TEXT,                       -- ISO 4217 code
    credit_limit INTEGER NOT NULL DEFAULT 0, -- Money: lowest balance allowed; 0 prepaid, negative postpaid
    max_sessions INTEGER NOT NULL DEFAULT 2, -- Max Sessions: a callback needs 2 (seed 000)
    associated_number TEXT,              -- Number called back by the DNIS trigger and the web simple mode
    language TEXT,
    blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    tariff TEXT,
    daily_cap INTEGER NOT NULL DEFAULT 0, -- Money: per-day spend cap; 0 none
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

CREATE INDEX accounts_associated_number ON accounts (associated_number);

-- Sippy's calling_card_cli_map: the numbers an account calls from.
CREATE TABLE account_clis (
    cli TEXT PRIMARY KEY,                -- E.164 without the leading +
    username TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE ON UPDATE CASCADE
) STRICT;

CREATE INDEX account_clis_username ON account_clis (username);

-- Access numbers with the per-number options of Sippy's ANI Callback
-- (seed 000, option names in the comments) and Mizu's (seed 003).
CREATE TABLE access_numbers (
    number TEXT PRIMARY KEY,                               -- The DID as it reaches Asterisk
    trigger_type TEXT NOT NULL DEFAULT 'ani',              -- ani, dnis or pin (seed 002)
    sub_app TEXT DEFAULT 'callingcard',                    -- original_cld of queued requests
    language TEXT,
    region TEXT,                                           -- ISO 3166 region for CLI normalisation
    area_code TEXT,                                        -- Prefixed to local-format CLIs
    default_account_username TEXT,                         -- Default Account Username
    disable_cli_authentication INTEGER NOT NULL DEFAULT 0, -- Disable CLI Authentication
    force_cli_authentication INTEGER NOT NULL DEFAULT 0,   -- Force CLI Authentication
    force_default_account INTEGER NOT NULL DEFAULT 0,      -- Force Default Account
    minimum_balance TEXT,                                  -- Minimum Balance, e.g. '2 USD'; NULL: Not set
    fixed_cli TEXT,                                        -- Fixed CLI
    hangup_sip_code INTEGER NOT NULL DEFAULT 603,          -- Hangup SIP Response Code
    ringback_time INTEGER NOT NULL DEFAULT 0,              -- Ringback Time, seconds
    ringback_type TEXT DEFAULT 'indicate',                 -- Ringback Type: indicate or earlymedia
    diversion_reason TEXT DEFAULT 'unconditional',         -- The Reason For Diversion
    anonymous_accounting INTEGER NOT NULL DEFAULT 1,       -- Enable_Anonymous_Accounting
    delay_before_callback INTEGER NOT NULL DEFAULT 0,      -- Delay Before Callback, seconds; 0 uses the global 5
    iscallback INTEGER NOT NULL DEFAULT 6,                 -- Mizu iscallback 1..7
    anumberhandling INTEGER NOT NULL DEFAULT 3,            -- Mizu anumberhandling 0..3
    internal_account TEXT,                                 -- Account paying leg A for the PIN trigger and hosted mode
    callback_tariff TEXT                                   -- Tariff whose prefixes say where callbacks may go
) STRICT;

CREATE TABLE currencies (
    code TEXT PRIMARY KEY,               -- ISO 4217
    rate INTEGER NOT NULL                -- Rate: millionths of this currency per base unit
) STRICT;

CREATE TABLE tariff_rates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tariff TEXT NOT NULL,
    prefix TEXT NOT NULL,                -- Digits, E.164 without +
    description TEXT,
    price_per_minute INTEGER NOT NULL DEFAULT 0, -- Money
    connection_fee INTEGER NOT NULL DEFAULT 0,   -- Money
    first_increment INTEGER NOT NULL DEFAULT 1,  -- Seconds billed at least
    next_increment INTEGER NOT NULL DEFAULT 1,   -- Billing step after the first increment, seconds
    blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    UNIQUE (tariff, prefix)
) STRICT;

-- One row, bumped by every rate import, so each node knows when to reload
-- its prefix tables.
CREATE TABLE tariffs_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO tariffs_version (id, version) VALUES (1, 1);

-- One row per call leg; the unique key makes settlement exactly-once.
CREATE TABLE cdrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL,         -- callback_requests.i_callback_request
    leg TEXT NOT NULL,                   -- A: the callback leg; B: the destination
    account TEXT NOT NULL,               -- Who pays this leg
    number TEXT,                         -- The number called
    caller_id TEXT,
    channel_id TEXT NOT NULL DEFAULT '', -- Asterisk channel id; part of the unique key, so never NULL
    start_time TEXT,
    answer_time TEXT,                    -- NULL when not answered
    end_time TEXT,
    billsec INTEGER NOT NULL DEFAULT 0,  -- Billed seconds after increments
    cause INTEGER,                       -- Q.850
    sip_code INTEGER,
    prefix TEXT,                         -- Tariff prefix that rated the leg
    charge INTEGER NOT NULL DEFAULT 0,   -- Money actually debited
    currency TEXT,
    disposition TEXT,                    -- ANSWERED, BUSY, NO ANSWER, FAILED
    UNIQUE (request_id, leg, channel_id)
) STRICT;

CREATE INDEX cdrs_account ON cdrs (account, start_time);

-- +goose Down
DROP TABLE cdrs;
DROP TABLE tariffs_version;
DROP TABLE tariff_rates;
DROP TABLE currencies;
DROP TABLE access_numbers;
DROP TABLE account_clis;
DROP TABLE accounts;
DROP TRIGGER callback_requests_created;
DROP TRIGGER callback_requests_authname;
DROP TABLE callback_request_events;
DROP TABLE callback_requests;
