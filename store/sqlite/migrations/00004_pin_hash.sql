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
-- ha1 (MD5(username:realm:password)) is as good as the password to SIP
-- digest; callbackd stores it only for accounts given a SIP identity
-- (`account add -sip`).

-- +goose Up
ALTER TABLE accounts ADD COLUMN pin_hash TEXT;
ALTER TABLE accounts ADD COLUMN pin_key_id TEXT;
CREATE UNIQUE INDEX accounts_pin_hash ON accounts (pin_hash);

-- +goose Down
DROP INDEX accounts_pin_hash;
ALTER TABLE accounts DROP COLUMN pin_key_id;
ALTER TABLE accounts DROP COLUMN pin_hash;
