-- PINs are stored as a keyed hash (auth.pin_key), not in plain text.
--
-- pin_hash is HMAC-SHA-256(pin_key, PIN) in hex, so a PIN typed on the web
-- page or in the IVR is still found by one index lookup; pin_key_id names
-- the key it was computed under (the first 8 bytes of
-- HMAC-SHA-256(pin_key, "callbackd pin key id"), hex), so a changed key is
-- noticed instead of every PIN silently failing. The key is configuration,
-- which SQL cannot see: the plain PINs are moved into pin_hash by callbackd
-- itself when it opens the store with a key (the pin column is then
-- cleared), and the plain column stays only for that.
--
-- ha1 is MD5(username:realm:password): to SIP digest it is as good as the
-- password itself. callbackd stores it only for accounts given a SIP
-- identity (`account add -sip`).

-- +goose Up
ALTER TABLE accounts
    MODIFY COLUMN pin VARCHAR(64) NULL COMMENT 'Legacy plain PIN, moved into pin_hash at startup; NULL afterwards',
    MODIFY COLUMN ha1 VARCHAR(64) NULL COMMENT 'MD5(username:realm:password), hex; password-equivalent for SIP digest, set only for a SIP identity',
    ADD COLUMN pin_hash CHAR(64) NULL COMMENT 'HMAC-SHA-256(auth.pin_key, PIN), hex; unique when set' AFTER pin,
    ADD COLUMN pin_key_id CHAR(16) NULL COMMENT 'Which auth.pin_key pin_hash was computed under' AFTER pin_hash,
    ADD UNIQUE KEY accounts_pin_hash (pin_hash);

-- +goose Down
ALTER TABLE accounts
    DROP INDEX accounts_pin_hash,
    DROP COLUMN pin_key_id,
    DROP COLUMN pin_hash,
    MODIFY COLUMN pin VARCHAR(64) NULL COMMENT 'Calling-card / PIN-trigger PIN; unique when set',
    MODIFY COLUMN ha1 VARCHAR(64) NULL COMMENT 'MD5(username:realm:password), hex';
