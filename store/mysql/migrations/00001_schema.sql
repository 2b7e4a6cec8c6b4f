-- callbackd schema for MariaDB 10.6+ and MySQL 8.0.13+.
--
-- The same logical schema as the SQLite one (same tables, columns, names and
-- meanings); only the DDL differs. Conventions:
--   * Timestamps are DATETIME(3) holding UTC. Defaults use UTC_TIMESTAMP(3),
--     so rows inserted by any SQL client are UTC whatever its session time
--     zone; compare them with UTC_TIMESTAMP(), not NOW().
--   * Money columns are BIGINT in 1/10000 of a currency unit (callback.Money);
--     exchange rates are BIGINT in millionths (callback.Rate).
--   * Optional text is NULL when empty.
--   * Text compares byte for byte (utf8mb4_bin), as in SQLite, so a username
--     or CLI matches the same rows in both stores.

-- +goose Up
CREATE TABLE callback_requests (
    -- Sippy's callback_requests (seed 000 "ANI Callback", seed 001 "2 Way Callback").
    i_callback_request BIGINT NOT NULL AUTO_INCREMENT COMMENT 'The primary key',
    username VARCHAR(255) NOT NULL COMMENT 'The callback call is originated on behalf of this user',
    authname VARCHAR(255) NULL COMMENT 'The callback call is originated with this identity; NULL on insert becomes username',
    md5secret VARCHAR(255) NULL COMMENT 'HA1: MD5 of "<username>:<realm>:<password>", hex',
    original_cli VARCHAR(64) NULL COMMENT 'Original CLI: the number to call back',
    original_set_cli VARCHAR(64) NULL COMMENT 'Use this CLI when creating callback call leg',
    original_cld VARCHAR(255) NULL COMMENT 'Original CLD: 2way_<CLD> or callingcard[_<lang>...]',
    twoway_cli VARCHAR(64) NULL COMMENT 'Parameter for the 2WayCallback application',
    twoway_authname VARCHAR(255) NULL COMMENT 'Parameter for the 2WayCallback application',
    twoway_md5secret VARCHAR(255) NULL COMMENT 'Parameter for the 2WayCallback application',
    call_id VARCHAR(255) NULL COMMENT 'Preset or generated Call-ID (channel id) of the callback leg',
    twoway_call_id VARCHAR(255) NULL COMMENT 'Preset or derived Call-ID (channel id) of the call to the destination',
    next_call DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3) + INTERVAL 5 SECOND) COMMENT 'When the next attempt is due (UTC); default: Delay Before Callback, 5 s',
    call_count INT NOT NULL DEFAULT 0 COMMENT 'Attempts dialled so far',
    canceled TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'Set from elsewhere to cancel the call',
    credit_time INT NULL COMMENT 'First call leg is terminated after this many seconds',
    anon_acct_enabled TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'Charge the real account for the first leg too (X-2Way-Need-Bind)',
    default_user_used TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'The default callback user was chosen',
    finished TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1: statistics entry; 0: schedule entry',
    status VARCHAR(64) NOT NULL DEFAULT 'Request received' COMMENT 'Callback status string',
    result VARCHAR(64) NULL COMMENT 'Callback result string',
    creation_time DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)) COMMENT 'Date and time of request creation (UTC)',
    setup_time DATETIME(3) NULL COMMENT 'Beginning of the latest callback call attempt (UTC)',
    connect_time DATETIME(3) NULL COMMENT 'Connect time (UTC); NULL for failed calls',
    disconnect_time DATETIME(3) NULL COMMENT 'End of the callback call (UTC)',
    -- callbackd's engine.
    attempt INT NOT NULL DEFAULT 0 COMMENT 'Claims so far: the fencing token of guarded updates',
    lease_owner VARCHAR(255) NULL COMMENT 'Node/boot holding the lease; NULL when free',
    lease_expires DATETIME(3) NULL COMMENT 'The lease is void after this (UTC)',
    last_cause INT NULL COMMENT 'Q.850 cause of the latest failed leg',
    last_sip_code INT NULL COMMENT 'SIP code of the latest failed leg',
    last_error VARCHAR(1024) NULL COMMENT 'Why the request failed or was refused',
    source VARCHAR(16) NOT NULL DEFAULT 'sql' COMMENT 'Trigger that created the request',
    access_number VARCHAR(64) NULL COMMENT 'Access number that was called',
    payer VARCHAR(255) NULL COMMENT 'Account paying leg A when not username',
    language VARCHAR(16) NULL COMMENT 'IVR language',
    ask_pin TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'PIN trigger: ask for a PIN after answer',
    request_key VARCHAR(255) NULL COMMENT 'Client idempotency key',
    destination VARCHAR(64) NULL COMMENT 'Leg B number when known at creation',
    PRIMARY KEY (i_callback_request),
    UNIQUE KEY callback_requests_request_key (request_key),
    -- Claim: finished = 0 AND lease_owner IS NULL AND next_call <= ? ORDER BY next_call.
    -- Also CanceledHeld (lease_owner = ?).
    KEY callback_requests_claim (finished, lease_owner, next_call),
    -- Rescue: finished = 0 AND lease_expires < ?.
    KEY callback_requests_lease (finished, lease_expires),
    KEY callback_requests_cli (original_cli, finished),
    KEY callback_requests_username (username, finished),
    KEY callback_requests_payer (payer, finished),
    KEY callback_requests_status (status),
    KEY callback_requests_creation (creation_time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE callback_request_events (
    id BIGINT NOT NULL AUTO_INCREMENT,
    request_id BIGINT NOT NULL COMMENT 'callback_requests.i_callback_request',
    event_time DATETIME(3) NOT NULL COMMENT 'UTC',
    attempt INT NOT NULL COMMENT 'callback_requests.attempt when it happened',
    status VARCHAR(64) NOT NULL COMMENT 'Status after the event',
    result VARCHAR(64) NULL COMMENT 'Result after the event',
    cause INT NULL COMMENT 'Q.850 cause',
    sip_code INT NULL,
    note VARCHAR(1024) NULL,
    PRIMARY KEY (id),
    KEY callback_request_events_request (request_id, id),
    CONSTRAINT callback_request_events_request_fk FOREIGN KEY (request_id)
        REFERENCES callback_requests (i_callback_request) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Seed 001: "The authname value can be omitted in which case the username
-- value will be used". A trigger, so that plain SQL clients get it too.
CREATE TRIGGER callback_requests_authname BEFORE INSERT ON callback_requests
FOR EACH ROW SET NEW.authname = COALESCE(NEW.authname, NEW.username);

-- Every request's history starts with its creation, whoever inserted it.
CREATE TRIGGER callback_requests_created AFTER INSERT ON callback_requests
FOR EACH ROW INSERT INTO callback_request_events (request_id, event_time, attempt, status, result, note)
VALUES (NEW.i_callback_request, NEW.creation_time, NEW.attempt, NEW.status, NEW.result,
        CONCAT('request created (source ', NEW.source, ')'));

CREATE TABLE accounts (
    id BIGINT NOT NULL AUTO_INCREMENT,
    username VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NULL COMMENT 'bcrypt of the web/API/email password',
    ha1 VARCHAR(64) NULL COMMENT 'MD5(username:realm:password), hex',
    pin VARCHAR(64) NULL COMMENT 'Calling-card / PIN-trigger PIN; unique when set',
    balance BIGINT NOT NULL DEFAULT 0 COMMENT 'Money: 1/10000 of the account currency',
    currency VARCHAR(8) NULL COMMENT 'ISO 4217 code',
    credit_limit BIGINT NOT NULL DEFAULT 0 COMMENT 'Money: lowest balance allowed; 0 prepaid, negative postpaid',
    max_sessions INT NOT NULL DEFAULT 2 COMMENT 'Max Sessions: a callback needs 2 (seed 000)',
    associated_number VARCHAR(64) NULL COMMENT 'Number called back by the DNIS trigger and the web simple mode',
    language VARCHAR(16) NULL,
    blocked TINYINT(1) NOT NULL DEFAULT 0,
    tariff VARCHAR(64) NULL,
    daily_cap BIGINT NOT NULL DEFAULT 0 COMMENT 'Money: per-day spend cap; 0 none',
    created DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)) COMMENT 'UTC',
    PRIMARY KEY (id),
    UNIQUE KEY accounts_username (username),
    UNIQUE KEY accounts_pin (pin),
    KEY accounts_associated_number (associated_number)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Sippy's calling_card_cli_map: the numbers an account calls from.
CREATE TABLE account_clis (
    cli VARCHAR(64) NOT NULL COMMENT 'E.164 without the leading +',
    username VARCHAR(255) NOT NULL,
    PRIMARY KEY (cli),
    KEY account_clis_username (username),
    CONSTRAINT account_clis_account_fk FOREIGN KEY (username)
        REFERENCES accounts (username) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Access numbers with the per-number options of Sippy's ANI Callback
-- (seed 000, option names in the comments) and Mizu's (seed 003).
CREATE TABLE access_numbers (
    number VARCHAR(64) NOT NULL COMMENT 'The DID as it reaches Asterisk',
    trigger_type VARCHAR(8) NOT NULL DEFAULT 'ani' COMMENT 'ani, dnis or pin (seed 002)',
    sub_app VARCHAR(255) NULL DEFAULT 'callingcard' COMMENT 'original_cld of queued requests',
    language VARCHAR(16) NULL,
    region VARCHAR(8) NULL COMMENT 'ISO 3166 region for CLI normalisation',
    area_code VARCHAR(16) NULL COMMENT 'Prefixed to local-format CLIs',
    default_account_username VARCHAR(255) NULL COMMENT 'Default Account Username',
    disable_cli_authentication TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'Disable CLI Authentication',
    force_cli_authentication TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'Force CLI Authentication',
    force_default_account TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'Force Default Account',
    minimum_balance VARCHAR(32) NULL COMMENT 'Minimum Balance, e.g. "2 USD"; NULL: Not set',
    fixed_cli VARCHAR(64) NULL COMMENT 'Fixed CLI',
    hangup_sip_code INT NOT NULL DEFAULT 603 COMMENT 'Hangup SIP Response Code',
    ringback_time INT NOT NULL DEFAULT 0 COMMENT 'Ringback Time, seconds',
    ringback_type VARCHAR(16) NULL DEFAULT 'indicate' COMMENT 'Ringback Type: indicate or earlymedia',
    diversion_reason VARCHAR(32) NULL DEFAULT 'unconditional' COMMENT 'The Reason For Diversion',
    anonymous_accounting TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'Enable_Anonymous_Accounting',
    delay_before_callback INT NOT NULL DEFAULT 0 COMMENT 'Delay Before Callback, seconds; 0 uses the global 5',
    iscallback INT NOT NULL DEFAULT 6 COMMENT 'Mizu iscallback 1..7',
    anumberhandling INT NOT NULL DEFAULT 3 COMMENT 'Mizu anumberhandling 0..3',
    internal_account VARCHAR(255) NULL COMMENT 'Account paying leg A for the PIN trigger and hosted mode',
    callback_tariff VARCHAR(64) NULL COMMENT 'Tariff whose prefixes say where callbacks may go',
    PRIMARY KEY (number)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE currencies (
    code VARCHAR(8) NOT NULL COMMENT 'ISO 4217',
    rate BIGINT NOT NULL COMMENT 'Rate: millionths of this currency per base unit',
    PRIMARY KEY (code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tariff_rates (
    id BIGINT NOT NULL AUTO_INCREMENT,
    tariff VARCHAR(64) NOT NULL,
    prefix VARCHAR(32) NOT NULL COMMENT 'Digits, E.164 without +',
    description VARCHAR(255) NULL,
    price_per_minute BIGINT NOT NULL DEFAULT 0 COMMENT 'Money',
    connection_fee BIGINT NOT NULL DEFAULT 0 COMMENT 'Money',
    first_increment INT NOT NULL DEFAULT 1 COMMENT 'Seconds billed at least',
    next_increment INT NOT NULL DEFAULT 1 COMMENT 'Billing step after the first increment, seconds',
    blocked TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY tariff_rates_prefix (tariff, prefix)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row, bumped by every rate import, so each node knows when to reload
-- its prefix tables.
CREATE TABLE tariffs_version (
    id INT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT tariffs_version_one_row CHECK (id = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO tariffs_version (id, version) VALUES (1, 1);

-- One row per call leg; the unique key makes settlement exactly-once.
CREATE TABLE cdrs (
    id BIGINT NOT NULL AUTO_INCREMENT,
    request_id BIGINT NOT NULL COMMENT 'callback_requests.i_callback_request',
    leg VARCHAR(2) NOT NULL COMMENT 'A: the callback leg; B: the destination',
    account VARCHAR(255) NOT NULL COMMENT 'Who pays this leg',
    number VARCHAR(64) NULL COMMENT 'The number called',
    caller_id VARCHAR(64) NULL,
    channel_id VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'Asterisk channel id; part of the unique key, so never NULL',
    start_time DATETIME(3) NULL COMMENT 'UTC',
    answer_time DATETIME(3) NULL COMMENT 'UTC; NULL when not answered',
    end_time DATETIME(3) NULL COMMENT 'UTC',
    billsec INT NOT NULL DEFAULT 0 COMMENT 'Billed seconds after increments',
    cause INT NULL COMMENT 'Q.850',
    sip_code INT NULL,
    prefix VARCHAR(32) NULL COMMENT 'Tariff prefix that rated the leg',
    charge BIGINT NOT NULL DEFAULT 0 COMMENT 'Money actually debited',
    currency VARCHAR(8) NULL,
    disposition VARCHAR(16) NULL COMMENT 'ANSWERED, BUSY, NO ANSWER, FAILED',
    PRIMARY KEY (id),
    UNIQUE KEY cdrs_leg (request_id, leg, channel_id),
    KEY cdrs_account (account, start_time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

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
