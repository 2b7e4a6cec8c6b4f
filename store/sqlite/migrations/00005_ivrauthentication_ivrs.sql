-- Mizu's ivrauthentication (seed 003) per access number: how a caller
-- proves who they are, 0 = no, 1 = A number or PIN (the default, what
-- callbackd did before), 2 = only A number, 3 = only PIN, 4 = A number and
-- PIN. Existing numbers get 1 and behave as before.
--
-- ivrs are Mizu's IVRs by id: an access number's iscallback of 8 or more
-- is "the ivr id to use" (seed 003, example iscallback: 8), and this table
-- gives the sub-application (original_cld: callingcard_es, 2way_12345)
-- each id runs. Ids 1 to 7 are iscallback modes and cannot be IVRs.

-- +goose Up
ALTER TABLE access_numbers ADD COLUMN ivrauthentication INTEGER NOT NULL DEFAULT 1
    CHECK (ivrauthentication BETWEEN 0 AND 4); -- Mizu ivrauthentication 0..4

CREATE TABLE ivrs (
    id INTEGER PRIMARY KEY CHECK (id >= 8), -- IVR id, as an access number's iscallback names it
    sub_app TEXT NOT NULL                   -- callingcard[_<lang>...] or 2way_<number>
) STRICT;

-- +goose Down
DROP TABLE ivrs;
ALTER TABLE access_numbers DROP COLUMN ivrauthentication;
